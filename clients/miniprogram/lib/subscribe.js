'use strict';
// 订阅消息 opt-in: the templates are read beforehand (wx.requestSubscribeMessage must run
// in the tap itself), then the shopper's answers are reported with recordSubscribeGrants.
const { gql } = require('./api');
const { describe } = require('./errors');

const TEMPLATES = `query Templates { notificationTemplates { event templateId } }`;
const GRANTS = `mutation Grants($results: [SubscribeGrantInput!]!) {
  recordSubscribeGrants(results: $results) { event templateId remaining }
}`;

// WeChat takes at most 3 one-time templates per request.
function pickTemplateIds(templates, events) {
  const ids = [];
  for (const event of events) {
    const t = templates.find((x) => x.event === event);
    if (t && ids.indexOf(t.templateId) < 0) ids.push(t.templateId);
  }
  return ids.slice(0, 3);
}

async function preload(page, events) {
  try {
    const { notificationTemplates } = await gql(TEMPLATES, {});
    page.setData({ tmplIds: pickTemplateIds(notificationTemplates, events) });
  } catch (err) {
    page.setData({ tmplIds: [] });
  }
}

// Call straight from a tap handler.
function ask(page) {
  const tmplIds = page.data.tmplIds || [];
  if (!tmplIds.length) return Promise.resolve(null);
  return new Promise((resolve) => {
    wx.requestSubscribeMessage({
      tmplIds,
      success: (res) => {
        const results = tmplIds.map((id) => ({ templateId: id, accepted: res[id] === 'accept' }));
        gql(GRANTS, { results }).then(
          (data) => {
            const accepted = results.filter((r) => r.accepted).length;
            page.setData({ notice: accepted ? '已开启通知' : '未开启通知' });
            resolve(data.recordSubscribeGrants);
          },
          (err) => { page.setData({ notice: describe(err) }); resolve(null); },
        );
      },
      fail: () => { page.setData({ notice: '未开启通知' }); resolve(null); },
    });
  });
}

module.exports = { preload, ask, pickTemplateIds };
