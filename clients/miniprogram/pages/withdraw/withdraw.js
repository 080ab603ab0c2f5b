'use strict';
// 提现: requestWithdrawal; a withdrawal waiting for the shopper (confirmation) is confirmed
// with wx.requestMerchantTransfer; PENDING or waiting ones can be cancelled.
const { gql } = require('../../lib/api');
const { describe } = require('../../lib/errors');
const { parseAmount, yuan, time, WITHDRAWAL_STATUS } = require('../../lib/format');

const STATE = `query Withdrawals($merchantId: ID!) {
  membership(merchantId: $merchantId) {
    merchant { name programs { withdrawal { minWithdrawal maxWithdrawal feeRatio } } }
    wallet { cash cashOnHold }
    withdrawals { id amount fee net status failReason createdAt confirmation { mchId appId packageInfo } }
  }
}`;
const REQUEST = `mutation Withdraw($merchantId: ID!, $amount: Decimal!) {
  requestWithdrawal(merchantId: $merchantId, amount: $amount) { id status }
}`;
const CANCEL = `mutation Cancel($id: ID!) { cancelWithdrawal(withdrawalId: $id) { id status } }`;

function view(w) {
  return {
    id: w.id,
    amount: yuan(w.amount),
    net: yuan(w.net),
    fee: yuan(w.fee),
    status: w.status,
    statusText: WITHDRAWAL_STATUS[w.status] || w.status,
    at: time(w.createdAt),
    failReason: w.failReason || '',
    canConfirm: !!w.confirmation,
    canCancel: w.status === 'PENDING' || !!w.confirmation,
  };
}

class WithdrawController {
  constructor(page, merchantId) {
    this.page = page;
    this.merchantId = merchantId;
    this.withdrawals = [];
  }

  async refresh() {
    try {
      const { membership } = await gql(STATE, { merchantId: this.merchantId });
      if (!membership) { this.page.setData({ state: 'notMember' }); return; }
      this.withdrawals = membership.withdrawals;
      const rules = membership.merchant.programs && membership.merchant.programs.withdrawal;
      this.page.setData({
        state: 'ready',
        cash: yuan(membership.wallet.cash),
        rulesText: rules ? `单笔 ${yuan(rules.minWithdrawal)} – ${yuan(rules.maxWithdrawal)}，手续费 ${Math.round(Number(rules.feeRatio) * 10000) / 100}%` : '',
        withdrawals: this.withdrawals.map(view),
      });
    } catch (err) {
      this.page.setData({ state: 'error', error: describe(err) });
    }
  }

  async request(amountText) {
    const amount = parseAmount(amountText);
    if (!amount) { this.page.setData({ error: '请输入正确的金额（最多两位小数）' }); return null; }
    this.page.setData({ busy: true, error: '', notice: '' });
    try {
      const w = (await gql(REQUEST, { merchantId: this.merchantId, amount })).requestWithdrawal;
      this.page.setData({ busy: false, notice: '提现申请已提交，等待商家审核', amount: '' });
      await this.refresh();
      return w;
    } catch (err) {
      this.page.setData({ busy: false, error: describe(err) });
      return null;
    }
  }

  // Opens WeChat's 确认收款 sheet for a withdrawal being transferred.
  confirm(id) {
    const w = this.withdrawals.find((x) => x.id === id);
    if (!w || !w.confirmation) return Promise.resolve(false);
    if (typeof wx.requestMerchantTransfer !== 'function') {
      this.page.setData({ error: '请升级微信后再确认收款' });
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      wx.requestMerchantTransfer({
        mchId: w.confirmation.mchId,
        appId: w.confirmation.appId,
        package: w.confirmation.packageInfo,
        success: () => {
          this.page.setData({ notice: '已确认收款，到账以微信通知为准' });
          this.refresh().then(() => resolve(true));
        },
        fail: () => {
          this.page.setData({ notice: '未确认收款，可稍后再确认' });
          resolve(false);
        },
      });
    });
  }

  async cancel(id) {
    try {
      await gql(CANCEL, { id });
      this.page.setData({ notice: '已取消提现，金额已退回余额' });
      await this.refresh();
      return true;
    } catch (err) {
      this.page.setData({ error: describe(err) });
      return false;
    }
  }
}

module.exports = { WithdrawController, view, STATE, REQUEST, CANCEL };
