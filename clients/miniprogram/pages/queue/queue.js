'use strict';
// 我的排队: every entry of the shopper at the current merchant, each with its live rank from
// queuePosition(entryId). After the app returns to the foreground or the network changes
// (lib/live.js restarts the socket), the entries are read again from membership.
const { gql } = require('../../lib/api');
const live = require('../../lib/live');
const { describe } = require('../../lib/errors');
const { QUEUE_STATUS, yuan } = require('../../lib/format');

const ENTRIES = `query QueueEntries($merchantId: ID!) {
  membership(merchantId: $merchantId) {
    merchant { id name }
    queueEntries { id status position target received }
  }
}`;

const POSITION = `subscription Position($entryId: ID!) {
  queuePosition(entryId: $entryId) { id status position target received etaSeconds }
}`;

function view(entry) {
  const received = Number(entry.received);
  const target = Number(entry.target);
  return {
    id: entry.id,
    status: entry.status,
    statusText: QUEUE_STATUS[entry.status] || entry.status,
    position: entry.position,
    rankText: entry.status === 'WAITING' && entry.position != null ? `第 ${entry.position} 位` : '',
    target: yuan(entry.target),
    received: yuan(entry.received),
    percent: target > 0 ? Math.min(100, Math.round((received / target) * 100)) : 0,
  };
}

class QueueController {
  constructor(page, merchantId) {
    this.page = page;
    this.merchantId = merchantId;
    this.entries = [];
    this.subs = new Map();
    this.stopped = false;
    this.offRestart = live.onRestart(() => this.refresh());
  }

  render(extra) {
    this.page.setData(Object.assign({ entries: this.entries.map(view) }, extra || {}));
  }

  async refresh() {
    try {
      const { membership } = await gql(ENTRIES, { merchantId: this.merchantId });
      if (this.stopped) return;
      if (!membership) {
        this.entries = [];
        this.render({ state: 'notMember' });
        return;
      }
      this.entries = membership.queueEntries.slice();
      this.render({ state: 'ready', merchantName: membership.merchant.name, error: '' });
      const open = new Set(this.entries.filter((e) => e.status !== 'COMPLETED').map((e) => e.id));
      for (const id of open) if (!this.subs.has(id)) this.watch(id);
      for (const [id, unsubscribe] of this.subs) {
        if (!open.has(id)) { unsubscribe(); this.subs.delete(id); }
      }
    } catch (err) {
      if (!this.stopped) this.page.setData({ state: this.entries.length ? 'ready' : 'error', error: describe(err) });
    }
  }

  watch(entryId) {
    const unsubscribe = live.subscribe(POSITION, { entryId }, {
      next: (data) => this.update(data.queuePosition),
      error: (err) => {
        this.subs.delete(entryId);
        if (!this.stopped) this.page.setData({ error: '实时排名已断开：' + describe(err) });
      },
      complete: () => { this.subs.delete(entryId); },
    });
    this.subs.set(entryId, unsubscribe);
  }

  update(entry) {
    if (this.stopped || !entry) return;
    const i = this.entries.findIndex((e) => e.id === entry.id);
    if (i < 0) this.entries.push(entry);
    else this.entries[i] = Object.assign({}, this.entries[i], entry);
    this.render({ error: '' });
    if (entry.status === 'COMPLETED' && this.subs.has(entry.id)) {
      this.subs.get(entry.id)();
      this.subs.delete(entry.id);
    }
  }

  stop() {
    this.stopped = true;
    this.offRestart();
    for (const unsubscribe of this.subs.values()) unsubscribe();
    this.subs.clear();
  }
}

module.exports = { QueueController, view, ENTRIES, POSITION };
