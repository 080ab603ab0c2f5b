'use strict';
// The shopper's login: a token kept with wx.setStorageSync, obtained by wx.login →
// loginWithWechat(code), and renewed when it expires or the server refuses it.
const { post } = require('./transport');
const { fromGraphQLError, ApiError } = require('./errors');

const KEY = 'fenhong.auth';
const RENEW_BEFORE_MS = 60 * 1000;

const LOGIN = `mutation Login($code: String!) {
  loginWithWechat(code: $code) { token expiresAt user { id } }
}`;

function stored() {
  let value;
  try { value = wx.getStorageSync(KEY); } catch (e) { value = null; }
  if (!value || !value.token) return null;
  if (value.expiresAt && Date.parse(value.expiresAt) - Date.now() < RENEW_BEFORE_MS) return null;
  return value;
}

function wxLoginCode() {
  return new Promise((resolve, reject) => {
    wx.login({
      success(res) {
        if (res && res.code) resolve(res.code);
        else reject(new ApiError('UNAUTHENTICATED', 'wx.login gave no code'));
      },
      fail(err) { reject(new ApiError('NETWORK', err && err.errMsg)); },
    });
  });
}

let pending = null;

// Logs in afresh (one at a time: concurrent callers share the same login).
function login() {
  if (pending) return pending;
  pending = (async () => {
    const code = await wxLoginCode();
    const body = await post(LOGIN, { code });
    if (body.errors && body.errors.length) throw fromGraphQLError(body.errors[0]);
    const auth = body.data.loginWithWechat;
    const value = { token: auth.token, expiresAt: auth.expiresAt, userId: auth.user && auth.user.id };
    wx.setStorageSync(KEY, value);
    return value.token;
  })();
  pending.then(() => { pending = null; }, () => { pending = null; });
  return pending;
}

async function ensureToken() {
  const value = stored();
  return value ? value.token : login();
}

function invalidate() {
  try { wx.removeStorageSync(KEY); } catch (e) { /* nothing kept */ }
}

function currentUserId() {
  const value = stored();
  return value ? value.userId : null;
}

module.exports = { ensureToken, login, invalidate, currentUserId, STORAGE_KEY: KEY };
