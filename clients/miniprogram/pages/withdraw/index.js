const { WithdrawController } = require('./withdraw');
const session = require('../../lib/session');
const notify = require('../../lib/subscribe');

Page({
  data: { state: 'loading', cash: '', rulesText: '', amount: '', withdrawals: [], busy: false, error: '', notice: '', tmplIds: [] },
  onLoad() {
    const current = session.getCurrent();
    if (!current) { this.setData({ state: 'notMember' }); return; }
    this.ctl = new WithdrawController(this, current.merchantId);
    this.ctl.refresh();
    notify.preload(this, ['WITHDRAWAL_PAID', 'WITHDRAWAL_FAILED']);
  },
  onShow() { if (this.ctl && this.data.state === 'ready') this.ctl.refresh(); },
  onAmount(e) { this.setData({ amount: e.detail.value }); },
  submit() {
    notify.ask(this);
    this.ctl.request(this.data.amount);
  },
  confirm(e) { this.ctl.confirm(e.currentTarget.dataset.id); },
  cancel(e) { this.ctl.cancel(e.currentTarget.dataset.id); },
});
