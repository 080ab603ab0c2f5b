const { pay } = require('./pay');
const session = require('../../lib/session');

Page({
  data: { merchantName: '', amount: '', points: '', paying: false, error: '', result: '', pointsUsed: 0 },
  onLoad() {
    this.current = session.getCurrent();
    this.setData({ merchantName: this.current ? this.current.merchantName : '' });
  },
  onAmount(e) { this.setData({ amount: e.detail.value }); },
  onPoints(e) { this.setData({ points: e.detail.value }); },
  submit() {
    if (!this.current || !this.current.storeId) { this.setData({ error: '请先扫描门店二维码' }); return; }
    pay(this, { storeId: this.current.storeId, amountText: this.data.amount, pointsText: this.data.points });
  },
});
