'use strict';
// The merchant (and store) the shopper last joined or opened: the other pages work on it.
const KEY = 'fenhong.current';

function getCurrent() {
  try { return wx.getStorageSync(KEY) || null; } catch (e) { return null; }
}

function setCurrent(value) {
  wx.setStorageSync(KEY, value);
}

module.exports = { getCurrent, setCurrent };
