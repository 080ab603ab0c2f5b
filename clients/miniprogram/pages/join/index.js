const join = require('./join');
const notify = require('../../lib/subscribe');

Page({
  data: { state: 'loading', error: '', merchantName: '', storeName: '', memberCode: '', justJoined: false, referred: false, notice: '', tmplIds: [] },
  onLoad(options) {
    this.query = options || {};
    join.load(this, this.query);
    notify.preload(this, ['QUEUE_ACTIVE', 'QUEUE_COMPLETED', 'REWARD_CREDITED']);
  },
  retry() { join.load(this, this.query); },
  subscribe() { notify.ask(this); },
  go(e) { wx.navigateTo({ url: e.currentTarget.dataset.url }); },
});
