'use strict';
// Wallet, pay and withdraw logic with a fake wx and a fake server (no rendering).
const test = require('node:test');
const assert = require('node:assert/strict');
const { createFakeWx, fakePage, waitFor, freshRequire } = require('./helpers/fake-wx');
const { fakeServer, gqlError } = require('./helpers/fake-server');
const { fakeWsServer } = require('./helpers/fake-ws-server');

const LOGIN = () => ({ loginWithWechat: { token: 'tok', expiresAt: new Date(Date.now() + 3600e3).toISOString(), user: { id: '7' } } });

function tx(id, amount, unit, kind) {
  return { node: { id, at: '2026-11-24T00:30:00Z', kind, amount, unit, memo: null, orderId: '1' } };
}

test('wallet: balances and history, next page, live walletUpdated', async (t) => {
  const ws = await fakeWsServer();
  t.after(() => ws.close());
  const server = fakeServer({
    Login: LOGIN,
    Wallet: ({ after }) => ({ membership: { merchant: { name: '茶馆' }, wallet: {
      cash: '12.50', cashOnHold: '0.00', points: 30, pointsOnHold: 0,
      transactions: after
        ? { edges: [tx('3', '-5.00', 'CNY', 'WITHDRAWAL_HOLD')], pageInfo: { hasNextPage: false, endCursor: 'c3' } }
        : { edges: [tx('1', '12.50', 'CNY', 'QUEUE_SHARE'), tx('2', '30', 'POINTS', 'REBATE_POINTS')], pageInfo: { hasNextPage: true, endCursor: 'c2' } } } } }),
  });
  const wx = createFakeWx({ handler: server.handler });
  global.wx = wx;
  const [config, { WalletController }, live] = freshRequire(['config.js', 'pages/wallet/wallet.js', 'lib/live.js']);
  config.wsUrl = ws.url;
  t.after(() => live.dispose());
  const page = fakePage();
  const wallet = new WalletController(page, '3');
  t.after(() => wallet.stop());
  await wallet.refresh();
  assert.equal(page.data.cash, '¥12.50');
  assert.equal(page.data.points, 30);
  assert.deepEqual(page.data.history.map((h) => [h.title, h.amount, h.at]), [['排队免单返现', '+¥12.50', '2026-11-24 08:30'], ['消费返积分', '+30 积分', '2026-11-24 08:30']]);
  await wallet.more();
  assert.equal(server.calls('Wallet')[1].variables.after, 'c2');
  assert.equal(page.data.history[2].amount, '-¥5.00');
  assert.equal(page.data.hasMore, false);

  await waitFor(() => ws.subscribes.length === 1);
  assert.deepEqual(ws.subscribes[0].variables, { merchantId: '3', first: 20 });
  ws.push({ merchantId: '3' }, { walletUpdated: { cash: '52.50', cashOnHold: '0.00', points: 30, pointsOnHold: 0,
    transactions: { edges: [tx('4', '40.00', 'CNY', 'queue_share')], pageInfo: { hasNextPage: false, endCursor: 'c4' } } } });
  await waitFor(() => page.data.cash === '¥52.50', { message: 'live cash' });
  assert.equal(page.data.history[0].amount, '+¥40.00');
});

test('pay: createPayment → wx.requestPayment with its requestPayment; cancel and bad amounts', async () => {
  const rp = { timeStamp: '1700000000', nonceStr: 'n', package: 'prepay_id=wx1', signType: 'RSA', paySign: 'sig' };
  let inputs = [];
  const server = fakeServer({
    Login: LOGIN,
    Pay: ({ input }) => { inputs.push(input); return input.amount === '999.00' ? gqlError('INSUFFICIENT_FUNDS') : { createPayment: { id: '5', status: 'PENDING', amount: input.amount, cashAmount: '18.00', pointsUsed: 200, requestPayment: rp } }; },
    Payment: () => ({ payment: { id: '5', status: 'PAID', order: { id: '8', status: 'COMPLETED' } } }),
  });
  const wx = createFakeWx({ handler: server.handler });
  global.wx = wx;
  const [{ pay }] = freshRequire(['pages/pay/pay.js']);
  const page = fakePage();

  await pay(page, { storeId: '9', amountText: '２０．００', pointsText: '200' });
  assert.deepEqual(inputs[0], { storeId: '9', amount: '20.00', pointsToUse: 200 });
  assert.equal(wx.calls.requestPayment.length, 1);
  const { success, fail, ...params } = wx.calls.requestPayment[0];
  assert.deepEqual(params, rp);
  assert.equal(page.data.result, '支付成功 ¥18.00');

  wx.paymentResult.ok = false;
  await pay(page, { storeId: '9', amountText: '20', pointsText: '' });
  assert.equal(page.data.error, '已取消支付，积分将自动退回');

  await pay(page, { storeId: '9', amountText: '1e3', pointsText: '' });
  assert.equal(page.data.error, '请输入正确的金额（最多两位小数）');
  assert.equal(inputs.length, 2);
  await pay(page, { storeId: '9', amountText: '999.00', pointsText: '' });
  assert.equal(page.data.error, '余额不足');
});

test('withdraw: request, confirm with wx.requestMerchantTransfer, cancel', async () => {
  let withdrawals = [];
  const server = fakeServer({
    Login: LOGIN,
    Withdrawals: () => ({ membership: {
      merchant: { name: '茶馆', programs: { withdrawal: { minWithdrawal: '10.00', maxWithdrawal: '200.00', feeRatio: '0.01' } } },
      wallet: { cash: '50.00', cashOnHold: '0.00' }, withdrawals } }),
    Withdraw: ({ amount }) => {
      if (amount === '500.00') return gqlError('INVALID_INPUT');
      withdrawals = [{ id: '21', amount, fee: '0.20', net: '19.80', status: 'TRANSFERRING', failReason: null, createdAt: '2026-11-24T01:00:00Z',
        confirmation: { mchId: '1230000109', appId: 'wxapp', packageInfo: 'ABBQO+oYAAABAAAAAAAk' } }];
      return { requestWithdrawal: { id: '21', status: 'PENDING' } };
    },
    Cancel: ({ id }) => { withdrawals = withdrawals.map((w) => (w.id === id ? Object.assign({}, w, { status: 'FAILED', confirmation: null }) : w)); return { cancelWithdrawal: { id, status: 'FAILED' } }; },
  });
  const wx = createFakeWx({ handler: server.handler });
  global.wx = wx;
  const [{ WithdrawController }] = freshRequire(['pages/withdraw/withdraw.js']);
  const page = fakePage();
  const ctl = new WithdrawController(page, '3');
  await ctl.refresh();
  assert.equal(page.data.cash, '¥50.00');
  assert.equal(page.data.rulesText, '单笔 ¥10.00 – ¥200.00，手续费 1%');

  await ctl.request('500.00');
  assert.equal(page.data.error, '输入有误，请检查后重试');
  await ctl.request('20.00');
  assert.equal(page.data.withdrawals[0].statusText, '待确认收款');
  assert.equal(page.data.withdrawals[0].canConfirm, true);

  assert.equal(await ctl.confirm('21'), true);
  const { success, fail, ...params } = wx.calls.requestMerchantTransfer[0];
  assert.deepEqual(params, { mchId: '1230000109', appId: 'wxapp', package: 'ABBQO+oYAAABAAAAAAAk' });

  assert.equal(await ctl.cancel('21'), true);
  assert.equal(page.data.withdrawals[0].status, 'FAILED');
  assert.equal(page.data.withdrawals[0].canConfirm, false);
  assert.equal(page.data.notice, '已取消提现，金额已退回余额');
});
