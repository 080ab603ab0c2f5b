'use strict';
// 买单: createPayment (points held at once) → wx.requestPayment with its requestPayment.
const { gql } = require('../../lib/api');
const { describe, ApiError } = require('../../lib/errors');
const { parseAmount, yuan } = require('../../lib/format');

const CREATE = `mutation Pay($input: CreatePaymentInput!) {
  createPayment(input: $input) {
    id status amount cashAmount pointsUsed
    requestPayment { timeStamp nonceStr package signType paySign }
  }
}`;
const STATUS = `query Payment($id: ID!) { payment(id: $id) { id status order { id status } } }`;

function requestPayment(params) {
  return new Promise((resolve, reject) => {
    wx.requestPayment(Object.assign({}, params, {
      success: resolve,
      fail: (err) => reject(err),
    }));
  });
}

async function pay(page, { storeId, amountText, pointsText }) {
  const amount = parseAmount(amountText);
  if (!amount) { page.setData({ error: '请输入正确的金额（最多两位小数）' }); return null; }
  const points = pointsText ? parseInt(String(pointsText), 10) : 0;
  if (pointsText && !(points >= 0)) { page.setData({ error: '积分须为整数' }); return null; }
  page.setData({ paying: true, error: '', result: '' });
  try {
    const input = { storeId, amount };
    if (points > 0) input.pointsToUse = points;
    const payment = (await gql(CREATE, { input })).createPayment;
    if (payment.requestPayment) {
      try {
        await requestPayment(payment.requestPayment);
      } catch (err) {
        const cancelled = err && /cancel/.test(err.errMsg || '');
        page.setData({ paying: false, error: cancelled ? '已取消支付，积分将自动退回' : '支付未完成' });
        return payment;
      }
    }
    const { payment: latest } = await gql(STATUS, { id: payment.id });
    page.setData({
      paying: false,
      result: latest && latest.status === 'PAID' ? `支付成功 ${yuan(payment.cashAmount)}` : `已提交支付 ${yuan(payment.cashAmount)}，到账确认中`,
      pointsUsed: payment.pointsUsed,
    });
    return payment;
  } catch (err) {
    page.setData({ paying: false, error: err instanceof ApiError ? describe(err) : '支付未完成' });
    return null;
  }
}

module.exports = { pay, CREATE, STATUS };
