'use strict';
// Renders a mini-program page with miniprogram-simulate (the official WXML compiler, j-component
// on jsdom). Pages are written with Page({...}); here Page registers the same definition as a
// component (data + methods), and the test calls the lifecycle (onLoad(query), onUnload).
const path = require('path');
const { JSDOM } = require('jsdom');

const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true });
for (const key of ['window', 'document', 'navigator', 'Node', 'Element', 'HTMLElement', 'Event', 'CustomEvent', 'getComputedStyle', 'requestAnimationFrame']) {
  if (!(key in global) || key === 'window' || key === 'document' || key === 'Event' || key === 'CustomEvent') {
    global[key] = key === 'window' ? dom.window : dom.window[key];
  }
}
const simulate = require('miniprogram-simulate');

global.Page = (definition) => {
  const data = definition.data || {};
  const methods = {};
  for (const [k, v] of Object.entries(definition)) if (k !== 'data') methods[k] = v;
  global.Component({ data, methods });
};

const ROOT = path.resolve(__dirname, '../..');

function renderPage(page) {
  // Page modules and the modules they use start afresh for each render.
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(ROOT) && !key.includes('node_modules') && !key.includes(path.sep + 'test' + path.sep)) delete require.cache[key];
  }
  const id = simulate.load(path.join(ROOT, page), { compiler: 'official', rootPath: ROOT });
  const comp = simulate.render(id);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

function text(comp) {
  return comp.dom.textContent.replace(/\s+/g, ' ').trim();
}

module.exports = { renderPage, text, simulate, ROOT };
