const join = require('./join');
const notify = require('../../lib/subscribe');

Page({
  data: { state: 'loading', error: '', merchantName: '', storeName: '', memberCode: '', justJoined: false, referred: false, notice: '', tmplIds: [] },
  onLoad(options) {
    this.options = options || {};
    join.load(this, this.options);
    notify.preload(this, ['QUEUE_ACTIVE', 'QUEUE_COMPLETED', 'REWARD_CREDITED']);
  },
  retry() { join.load(this, this.options); },
  subscribe() { notify.ask(this); },
  go(e) { wx.navigateTo({ url: e.currentTarget.dataset.url }); },
});
