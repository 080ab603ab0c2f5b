const { QueueController } = require('./queue');
const session = require('../../lib/session');

Page({
  data: { state: 'loading', merchantName: '', entries: [], error: '' },
  onLoad() {
    const current = session.getCurrent();
    if (!current) { this.setData({ state: 'notMember' }); return; }
    this.queue = new QueueController(this, current.merchantId);
    this.queue.refresh();
  },
  onPullDownRefresh() {
    if (!this.queue) { wx.stopPullDownRefresh(); return; }
    this.queue.refresh().then(() => wx.stopPullDownRefresh());
  },
  onUnload() { if (this.queue) this.queue.stop(); },
});
