'use strict';
// 我的钱包: cash, points and the history (membership.wallet.transactions), kept live by
// walletUpdated(merchantId).
const { gql } = require('../../lib/api');
const live = require('../../lib/live');
const { describe } = require('../../lib/errors');
const { yuan, time, UNIT } = require('../../lib/format');

const PAGE_SIZE = 20;
const TX = `transactions(first: $first, after: $after) {
      edges { node { id at kind amount unit memo orderId } }
      pageInfo { hasNextPage endCursor }
    }`;
const WALLET = `query Wallet($merchantId: ID!, $first: Int, $after: String) {
  membership(merchantId: $merchantId) {
    merchant { name }
    wallet { cash cashOnHold points pointsOnHold ${TX} }
  }
}`;
const UPDATED = `subscription WalletUpdated($merchantId: ID!, $first: Int, $after: String) {
  walletUpdated(merchantId: $merchantId) { cash cashOnHold points pointsOnHold ${TX} }
}`;

// The server's posting kinds (LedgerEntry.kind) a shopper's history shows.
const KIND = {
  QUEUE_SHARE: '排队免单返现',
  REFERRAL: '推荐奖励',
  REFERRAL_SECOND_LEVEL: '二级推荐奖励',
  REBATE_POINTS: '消费返积分',
  POINTS_REDEEMED: '积分抵扣',
  POINTS_RESTORED: '退款退回积分',
  POINTS_EXPIRED: '积分过期',
  POINTS_HELD: '支付冻结积分',
  POINTS_RELEASED: '支付取消，积分退回',
  WITHDRAWAL_HOLD: '提现冻结',
  WITHDRAWAL_RETURNED: '提现退回',
  WITHDRAWAL_PAID: '提现到账',
  WITHDRAWAL_FEE: '提现手续费',
  VALUE_ADDED_POINTS: '消费增值积分',
  VA_SOLD: '增值积分卖出',
  VA_SALE: '增值积分卖出',
  FORCED_EXIT: '增值积分强制退出',
  VA_FORCED_EXIT: '增值积分强制退出',
};

function txView(node) {
  const negative = String(node.amount).charAt(0) === '-';
  const unit = node.unit === 'CNY' ? '' : ' ' + (UNIT[node.unit] || node.unit);
  const amount = node.unit === 'CNY' ? yuan(negative ? node.amount.slice(1) : node.amount) : (negative ? node.amount.slice(1) : node.amount);
  return {
    id: node.id,
    at: time(node.at),
    title: KIND[node.kind] || node.memo || node.kind,
    amount: (negative ? '-' : '+') + amount + unit,
    negative,
  };
}

class WalletController {
  constructor(page, merchantId) {
    this.page = page;
    this.merchantId = merchantId;
    this.history = [];
    this.unsubscribe = null;
    this.offRestart = live.onRestart(() => this.refresh());
  }

  show(wallet, append) {
    const edges = wallet.transactions.edges.map((e) => txView(e.node));
    this.history = append ? this.history.concat(edges) : edges;
    this.endCursor = wallet.transactions.pageInfo.endCursor;
    this.page.setData({
      state: 'ready',
      cash: yuan(wallet.cash),
      cashOnHold: yuan(wallet.cashOnHold),
      points: wallet.points,
      pointsOnHold: wallet.pointsOnHold,
      history: this.history,
      hasMore: wallet.transactions.pageInfo.hasNextPage,
      error: '',
    });
  }

  async refresh() {
    try {
      const { membership } = await gql(WALLET, { merchantId: this.merchantId, first: PAGE_SIZE });
      if (!membership) { this.page.setData({ state: 'notMember' }); return; }
      this.page.setData({ merchantName: membership.merchant.name });
      this.show(membership.wallet, false);
      if (!this.unsubscribe) {
        this.unsubscribe = live.subscribe(UPDATED, { merchantId: this.merchantId, first: PAGE_SIZE }, {
          next: (data) => this.show(data.walletUpdated, false),
          error: (err) => { this.unsubscribe = null; this.page.setData({ error: '实时更新已断开：' + describe(err) }); },
          complete: () => { this.unsubscribe = null; },
        });
      }
    } catch (err) {
      this.page.setData({ state: this.history.length ? 'ready' : 'error', error: describe(err) });
    }
  }

  async more() {
    if (!this.page.data.hasMore) return;
    try {
      const { membership } = await gql(WALLET, { merchantId: this.merchantId, first: PAGE_SIZE, after: this.endCursor });
      this.show(membership.wallet, true);
    } catch (err) {
      this.page.setData({ error: describe(err) });
    }
  }

  stop() {
    this.offRestart();
    if (this.unsubscribe) this.unsubscribe();
    this.unsubscribe = null;
  }
}

module.exports = { WalletController, txView, WALLET, UPDATED };
