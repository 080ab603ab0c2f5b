'use strict';
// 扫码加入: the scene of the store's (or a friend's) code → joinByScene → 已加入 + member code.
const { gql } = require('../../lib/api');
const { describe } = require('../../lib/errors');
const session = require('../../lib/session');

const JOIN = `mutation Join($scene: String!) {
  joinByScene(scene: $scene) {
    justJoined memberCode
    merchant { id name }
    store { id name }
    referrer { id }
  }
}`;

const MEMBERSHIP = `query Member($merchantId: ID!) {
  membership(merchantId: $merchantId) { memberCode merchant { id name } store { id name } }
}`;

// The scene from the page's query (a wxacode opens the page with ?scene=<encoded>), or,
// when the page was opened otherwise, from how the mini-program was entered.
function sceneFrom(options) {
  let scene = options && options.scene;
  if (!scene && typeof wx.getEnterOptionsSync === 'function') {
    const enter = wx.getEnterOptionsSync() || {};
    scene = enter.query && enter.query.scene;
  }
  if (!scene) return null;
  try { return decodeURIComponent(scene); } catch (e) { return String(scene); }
}

async function load(page, options) {
  page.setData({ state: 'loading', error: '' });
  try {
    const scene = sceneFrom(options);
    if (scene) {
      const m = (await gql(JOIN, { scene })).joinByScene;
      session.setCurrent({ merchantId: m.merchant.id, merchantName: m.merchant.name, storeId: m.store ? m.store.id : null });
      page.setData({
        state: 'joined',
        justJoined: m.justJoined,
        merchantName: m.merchant.name,
        storeName: m.store ? m.store.name : '',
        memberCode: m.memberCode,
        referred: !!m.referrer,
      });
      return;
    }
    const current = session.getCurrent();
    if (!current) {
      page.setData({ state: 'noScene' });
      return;
    }
    const m = (await gql(MEMBERSHIP, { merchantId: current.merchantId })).membership;
    if (!m) {
      page.setData({ state: 'noScene' });
      return;
    }
    page.setData({
      state: 'joined', justJoined: false, merchantName: m.merchant.name,
      storeName: m.store ? m.store.name : '', memberCode: m.memberCode, referred: false,
    });
  } catch (err) {
    page.setData({ state: 'error', error: describe(err) });
  }
}

module.exports = { load, sceneFrom, JOIN };
