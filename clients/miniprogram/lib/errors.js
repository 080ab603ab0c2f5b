'use strict';
// Server errors (extensions.code) in the shopper's language.
const MESSAGES = {
  UNAUTHENTICATED: '登录已失效，请重新进入小程序',
  FORBIDDEN: '没有权限进行此操作',
  NOT_FOUND: '没有找到相关信息',
  INVALID_INPUT: '输入有误，请检查后重试',
  CONFLICT: '状态已变化，请刷新后重试',
  INSUFFICIENT_FUNDS: '余额不足',
  RATE_LIMITED: '操作太频繁，请稍后再试',
  UNAVAILABLE: '服务暂时不可用，请稍后重试',
  INTERNAL: '服务器开小差了，请稍后重试',
  NETWORK: '网络连接失败，请检查网络',
};

class ApiError extends Error {
  constructor(code, serverMessage) {
    super(MESSAGES[code] || MESSAGES.INTERNAL);
    this.name = 'ApiError';
    this.code = code;
    this.serverMessage = serverMessage || '';
  }
}

function fromGraphQLError(err) {
  const code = (err && err.extensions && err.extensions.code) || 'INTERNAL';
  return new ApiError(MESSAGES[code] ? code : 'INTERNAL', err && err.message);
}

// What a page shows for any failure.
function describe(err) {
  if (err instanceof ApiError) return err.message;
  if (err && err.errMsg) return '操作未完成';
  return MESSAGES.INTERNAL;
}

module.exports = { ApiError, MESSAGES, fromGraphQLError, describe };
