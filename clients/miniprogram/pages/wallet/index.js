const { WalletController } = require('./wallet');
const session = require('../../lib/session');

Page({
  data: { state: 'loading', merchantName: '', cash: '', cashOnHold: '', points: 0, pointsOnHold: 0, history: [], hasMore: false, error: '' },
  onLoad() {
    const current = session.getCurrent();
    if (!current) { this.setData({ state: 'notMember' }); return; }
    this.wallet = new WalletController(this, current.merchantId);
    this.wallet.refresh();
  },
  onReachBottom() { if (this.wallet) this.wallet.more(); },
  withdraw() { wx.navigateTo({ url: '/pages/withdraw/index' }); },
  onUnload() { if (this.wallet) this.wallet.stop(); },
});
