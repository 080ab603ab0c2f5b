'use strict';

const QUEUE_STATUS = { WAITING: '排队中', ACTIVE: '免单返还中', COMPLETED: '已完成' };
const WITHDRAWAL_STATUS = {
  PENDING: '审核中', APPROVED: '已打款', REJECTED: '已拒绝',
  TRANSFERRING: '待确认收款', PAID: '已到账', FAILED: '未成功，已退回余额',
};
const UNIT = { CNY: '元', POINTS: '积分', VA_POINTS: '增值积分' };

function yuan(value) {
  return '¥' + (value == null ? '0.00' : value);
}

// Amount typed by the shopper → the server's decimal string, or null when it is not one.
// Full-width digits and point from a Chinese input method are accepted.
function parseAmount(text) {
  const s = String(text == null ? '' : text)
    .replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/．|。/g, '.')
    .trim();
  if (!/^[0-9]+(\.[0-9]{1,2})?$/.test(s)) return null;
  if (Number(s) <= 0) return null;
  return s;
}

function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d.getTime())) return '';
  const pad = (n) => (n < 10 ? '0' + n : '' + n);
  // China time, whatever the phone's zone.
  const c = new Date(d.getTime() + 8 * 3600 * 1000);
  return `${c.getUTCFullYear()}-${pad(c.getUTCMonth() + 1)}-${pad(c.getUTCDate())} ${pad(c.getUTCHours())}:${pad(c.getUTCMinutes())}`;
}

module.exports = { QUEUE_STATUS, WITHDRAWAL_STATUS, UNIT, yuan, parseAmount, time };
