'use strict';
// One GraphQL request over HTTP with wx.request: POST JSON to `${serverUrl}/graphql`.
const config = require('../config');
const { ApiError } = require('./errors');

function post(query, variables, token) {
  return new Promise((resolve, reject) => {
    const header = { 'content-type': 'application/json', accept: 'application/json' };
    if (token) header.authorization = 'Bearer ' + token;
    wx.request({
      url: config.serverUrl.replace(/\/+$/, '') + '/graphql',
      method: 'POST',
      header,
      data: { query, variables: variables || {} },
      dataType: 'json',
      success(res) {
        const body = res.data;
        if (body && typeof body === 'object' && (body.data !== undefined || body.errors)) {
          resolve(body);
        } else if (res.statusCode >= 500 || res.statusCode === 0) {
          reject(new ApiError('UNAVAILABLE', 'HTTP ' + res.statusCode));
        } else {
          reject(new ApiError('INTERNAL', 'HTTP ' + res.statusCode));
        }
      },
      fail(err) {
        reject(new ApiError('NETWORK', err && err.errMsg));
      },
    });
  });
}

module.exports = { post };
