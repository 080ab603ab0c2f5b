// What every page of the console shares: the session, GraphQL over HTTP with errors in
// Chinese, the one live connection (the official graphql-ws client), formatting, and a few
// small pieces of UI.
import { createClient } from "./vendor/graphql-ws.js";

// ---------------------------------------------------------------------------------------
// The session, kept in the browser.

const KEY = "fenhong.console";
export const session = (() => {
  try { return JSON.parse(localStorage.getItem(KEY) || "{}"); } catch { return {}; }
})();
export const saveSession = () => localStorage.setItem(KEY, JSON.stringify(session));
export function clearSession(keep = []) {
  for (const k of Object.keys(session)) if (!keep.includes(k)) delete session[k];
  saveSession();
}

// ---------------------------------------------------------------------------------------
// Errors, by the server's `extensions.code`.

const MESSAGES = {
  UNAUTHENTICATED: "登录已失效，请重新登录",
  FORBIDDEN: "当前账号没有此操作的权限",
  NOT_FOUND: "没有找到对应的记录",
  INVALID_INPUT: "输入有误，请检查后重试",
  CONFLICT: "状态已经变化，请刷新后重试",
  INSUFFICIENT_FUNDS: "余额或积分不足",
  RATE_LIMITED: "操作太频繁，请稍后再试",
  UNAVAILABLE: "服务暂时不可用，请稍后重试",
  INTERNAL: "服务器出错了，请稍后重试",
  NETWORK: "网络连接失败，请检查网络后重试",
  TIMEOUT: "服务器没有及时响应，可以直接重试（不会重复记账）",
};

/** An answer that arrived after its page was left: nobody is waiting for it any more. */
export class StaleError extends Error {}

// Which page is showing: answers to requests made for an earlier one are dropped.
let generation = 0;
export const nextGeneration = () => ++generation;

export class ApiError extends Error {
  constructor(code, detail, extensions = {}) {
    super(MESSAGES[code] || MESSAGES.INTERNAL);
    this.code = code;
    this.detail = detail || "";
    this.extensions = extensions;
  }
}

/** What a page shows for a failure: the code's sentence, and the server's detail for input errors. */
export function describe(err) {
  if (err instanceof StaleError) return "";
  if (!(err instanceof ApiError)) return MESSAGES.INTERNAL;
  if (err.code === "RATE_LIMITED" && err.extensions.retryAfterSeconds) {
    return `尝试次数过多，请 ${err.extensions.retryAfterSeconds} 秒后再试`;
  }
  if (err.code === "INVALID_INPUT" || err.code === "CONFLICT" || err.code === "INSUFFICIENT_FUNDS") {
    return err.detail ? `${err.message}（${err.detail}）` : err.message;
  }
  return err.message;
}

// ---------------------------------------------------------------------------------------
// GraphQL over HTTP.

const TIMEOUT_MS = 20000;

export async function gql(query, variables = {}) {
  const asked = generation;
  const headers = { "content-type": "application/json", accept: "application/graphql-response+json, application/json" };
  if (session.token) headers.authorization = "Bearer " + session.token;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  let body;
  try {
    const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }), signal: abort.signal });
    body = await response.json();
  } catch (err) {
    throw new ApiError(err && err.name === "AbortError" ? "TIMEOUT" : "NETWORK", String(err && err.message));
  } finally {
    clearTimeout(timer);
  }
  if (asked !== generation) throw new StaleError();
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    const code = (e.extensions && e.extensions.code) || "INTERNAL";
    const error = new ApiError(code, e.message, e.extensions || {});
    if (code === "UNAUTHENTICATED" && session.token) onSignedOut(error);
    throw error;
  }
  return body.data;
}

let signedOut = () => {};
export const whenSignedOut = (f) => { signedOut = f; };
function onSignedOut(error) { signedOut(error); }

// ---------------------------------------------------------------------------------------
// The page's one live connection: every subscription of the page shares it. It reconnects
// by itself with backoff, shows when it is down, and tells the page to re-read what it shows
// once it is back (events may have been missed meanwhile).

let client = null;
let everConnected = false;
let reconnectListeners = [];

export function liveStatus(up) {
  const bar = document.getElementById("live-status");
  if (!bar) return;
  bar.hidden = up;
}

function liveClient() {
  if (client) return client;
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql/ws";
  client = createClient({
    url,
    lazy: true,
    lazyCloseTimeout: 3000,
    connectionParams: () => ({ token: session.token }),
    retryAttempts: Infinity,
    // Everything but a refused login (4403: the token is no longer good) is worth retrying.
    shouldRetry: (e) => !(e && typeof e.code === "number" && [4400, 4401, 4403].includes(e.code)),
    // 0.5 s, 1 s, 2 s, then every 3 s, with some jitter so clients do not stampede.
    retryWait: (retries) => new Promise((resolve) =>
      setTimeout(resolve, Math.min(3000, 500 * 2 ** retries) + Math.floor(Math.random() * 300))),
    keepAlive: 10000,
    on: {
      connected: () => {
        liveStatus(true);
        document.body.dataset.live = "up";
        if (everConnected) for (const f of reconnectListeners) f();
        everConnected = true;
      },
      closed: () => { document.body.dataset.live = "down"; if (everConnected) liveStatus(false); },
      error: () => { if (everConnected) liveStatus(false); },
    },
  });
  return client;
}

/**
 * Subscribes on the page's connection; `onData` gets each result's data. Returns a function
 * that ends the subscription.
 */
export function subscribe(query, variables, onData, onError = () => {}) {
  return liveClient().subscribe({ query, variables }, {
    next: (result) => {
      if (result.errors && result.errors.length) {
        const e = result.errors[0];
        onError(new ApiError((e.extensions && e.extensions.code) || "INTERNAL", e.message));
      } else if (result.data) onData(result.data);
    },
    error: (err) => onError(err instanceof ApiError ? err : new ApiError("NETWORK", String(err && (err.reason || err.message)))),
    complete: () => {},
  });
}

/** `f` runs each time the live connection comes back after being down. */
export function onReconnect(f) {
  reconnectListeners.push(f);
}

/** A new page: its subscriptions and reconnect handlers end (the connection stays open). */
export function resetLive(unsubscribers) {
  for (const u of unsubscribers.splice(0)) { try { u(); } catch { /* already ended */ } }
  reconnectListeners = [];
}

/** Ends the connection (log out). */
export function closeLive() {
  if (client) { client.dispose(); client = null; everConnected = false; }
  liveStatus(true);
}

// ---------------------------------------------------------------------------------------
// Formatting.

export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

/** `1234.5` → `¥1,234.50` (from the server's exact decimal string; no float arithmetic). */
export function yuan(value) {
  if (value == null || value === "") return "¥0.00";
  let s = String(value), sign = "";
  if (s.startsWith("-")) { sign = "-"; s = s.slice(1); }
  let [whole, frac = ""] = s.split(".");
  frac = (frac + "00").slice(0, Math.max(2, frac.length));
  whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}¥${whole}.${frac}`;
}

/** A ratio (`0.5992`) as a percentage (`59.92%`), by moving the decimal point. */
export function percent(value) {
  if (value == null || value === "") return "—";
  let s = String(value), sign = "";
  if (s.startsWith("-")) { sign = "-"; s = s.slice(1); }
  let [whole, frac = ""] = s.split(".");
  frac = frac.padEnd(2, "0");
  let intPart = (whole + frac.slice(0, 2)).replace(/^0+(?=\d)/, "");
  let rest = frac.slice(2).replace(/0+$/, "");
  return `${sign}${intPart}${rest ? "." + rest : ""}%`;
}

/** `59.92` (typed percent) → `0.5992` (the server's ratio), exactly; null if not a number. */
export function ratioFromPercent(text) {
  const s = normalizeDigits(text).replace(/%$/, "").trim();
  if (!/^\d+(\.\d+)?$/.test(s)) return null;
  let [whole, frac = ""] = s.split(".");
  whole = whole.padStart(3, "0");
  const r = `${whole.slice(0, -2)}.${whole.slice(-2)}${frac}`.replace(/^0+(?=\d)/, "");
  return r.replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "") || "0";
}

export function integer(n) {
  return Number(n || 0).toLocaleString("zh-CN");
}

/** Full-width digits and points from a Chinese input method, as ASCII. */
export function normalizeDigits(text) {
  return String(text ?? "")
    .replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/[．。]/g, ".")
    .replace(/％/g, "%")
    .trim();
}

/** A typed amount in yuan → the server's decimal string, or null if it is not one. */
export function parseAmount(text) {
  const s = normalizeDigits(text).replace(/^[¥￥]/, "");
  if (!/^\d+(\.\d{1,2})?$/.test(s) || Number(s) <= 0) return null;
  return s.replace(/^0+(?=\d)/, "");
}

export function parseCount(text) {
  const s = normalizeDigits(text);
  if (s === "") return 0;
  return /^\d{1,9}$/.test(s) ? Number(s) : null;
}

let zone = "Asia/Shanghai";
export const setZone = (z) => { zone = z || "Asia/Shanghai"; };
export const currentZone = () => zone;

function parts(date, z = zone) {
  const f = new Intl.DateTimeFormat("en-CA", { timeZone: z, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const o = {};
  for (const p of f.formatToParts(date)) o[p.type] = p.value;
  return o;
}

/** An instant as `2026-11-24 18:05` in the merchant's zone. */
export function time(iso) {
  if (!iso) return "";
  const p = parts(new Date(iso));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

export function clock(iso) {
  const p = parts(new Date(iso));
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** Today's date (`YYYY-MM-DD`) in the merchant's zone. */
export function today() {
  const p = parts(new Date());
  return `${p.year}-${p.month}-${p.day}`;
}

export function addDays(day, n) {
  const d = new Date(day + "T12:00:00Z");
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** The instant a local day (`YYYY-MM-DD`) starts in the merchant's zone. */
export function startOfDay(day) {
  // The zone's offset at that day's noon, then corrected once for a change at midnight.
  let guess = new Date(day + "T00:00:00Z").getTime();
  for (let i = 0; i < 2; i++) {
    const p = parts(new Date(guess));
    const shown = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
    guess -= shown - new Date(day + "T00:00:00Z").getTime();
  }
  return new Date(guess).toISOString();
}

export function duration(seconds) {
  if (seconds == null) return "暂无法估计";
  if (seconds < 60) return "约 1 分钟内";
  if (seconds < 3600) return `约 ${Math.ceil(seconds / 60)} 分钟`;
  if (seconds < 86400) return `约 ${Math.round(seconds / 360) / 10} 小时`;
  return `约 ${Math.round(seconds / 8640) / 10} 天`;
}

// Names of the server's values.
export const ORDER_STATUS = { PAID: "已支付", COMPLETED: "已完成", REFUNDED: "已退款" };
export const QUEUE_STATUS = { WAITING: "排队中", ACTIVE: "返还中", COMPLETED: "已免单" };
export const WITHDRAWAL_STATUS = { PENDING: "待审核", APPROVED: "已通过（线下打款）", REJECTED: "已拒绝", TRANSFERRING: "转账中，待顾客确认", PAID: "已到账", FAILED: "未成功，已退回" };
export const ROLE = { OWNER: "店主", MANAGER: "店长", CASHIER: "收银员" };
export const REWARD_KIND = {
  QUEUE_SHARE: "排队免单返现", REFERRAL: "推荐奖励", REFERRAL_SECOND_LEVEL: "二级推荐奖励", POOL_CARRY: "转入奖池",
  REBATE_POINTS: "消费返积分", VALUE_ADDED_POINTS: "消费增值积分", VALUE_ADDED_POOL: "增值积分池",
};
export const LEDGER_KIND = {
  QUEUE_SHARE: "排队免单返现", REFERRAL: "推荐奖励", REFERRAL_SECOND_LEVEL: "二级推荐奖励", REBATE_POINTS: "消费返积分",
  POINTS_REDEEMED: "积分抵扣", POINTS_RESTORED: "退款退回积分", POINTS_EXPIRED: "积分过期", POINTS_HELD: "支付冻结积分",
  POINTS_RELEASED: "支付取消，积分退回", WITHDRAWAL_HOLD: "提现冻结", WITHDRAWAL_RETURNED: "提现退回", WITHDRAWAL_PAID: "提现到账",
  WITHDRAWAL_FEE: "提现手续费", VALUE_ADDED_POINTS: "消费增值积分", VA_SOLD: "增值积分卖出", VA_SALE: "增值积分卖出",
  FORCED_EXIT: "增值积分强制退出", VA_FORCED_EXIT: "增值积分强制退出",
};
export const UNIT = { CNY: "元", POINTS: "积分", VA_POINTS: "增值积分" };
export const FEED_KIND = {
  ORDER_PAID: "微信支付下单", ORDER_REFUNDED: "订单退款", ORDER_COMPLETED: "订单完成", MEMBER_JOINED: "新会员加入",
  WITHDRAWAL_REQUESTED: "申请提现", WITHDRAWAL_TRANSFERRING: "提现转账中", WITHDRAWAL_PAID: "提现已到账", WITHDRAWAL_FAILED: "提现未成功",
};

/** A shopper as people know her: nickname and member code. */
export function person(user, memberCode) {
  const name = user && user.nickname ? user.nickname : "未设置昵称";
  const code = memberCode || (user && user.memberships && user.memberships[0] && user.memberships[0].memberCode);
  return code ? `${name}（${code}）` : name;
}

export function ledgerLine(t) {
  const negative = String(t.amount).startsWith("-");
  const abs = negative ? String(t.amount).slice(1) : String(t.amount);
  const amount = t.unit === "CNY" ? yuan(abs) : `${abs} ${UNIT[t.unit] || t.unit}`;
  return { title: LEDGER_KIND[t.kind] || t.memo || "其他变动", amount: (negative ? "−" : "+") + amount, negative };
}

// ---------------------------------------------------------------------------------------
// UI pieces.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Runs `work` with `button` disabled (and labelled busy) until it settles. */
export async function busy(button, work, label = "处理中…") {
  if (button.disabled) return undefined;
  const text = button.textContent;
  button.disabled = true;
  button.textContent = label;
  try { return await work(); } finally { button.disabled = false; button.textContent = text; }
}

export function toast(text, kind = "ok") {
  if (!text) return;
  let box = document.getElementById("toasts");
  if (!box) { box = document.createElement("div"); box.id = "toasts"; document.body.append(box); }
  const item = document.createElement("div");
  item.className = "toast " + kind;
  item.setAttribute("role", "status");
  item.textContent = text;
  box.append(item);
  setTimeout(() => item.remove(), 4000);
}

/**
 * Asks before doing something that cannot be undone; with `note`, also for a note (the
 * answer). Resolves `null` when cancelled.
 */
export function confirmDialog({ title, body = "", confirm = "确定", note = null, danger = false }) {
  return new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.innerHTML = `<form method="dialog"><h3>${esc(title)}</h3><div class="dialog-body">${body}</div>
      ${note ? `<label class="field"><span>${esc(note)}</span><input name="note" maxlength="200" autocomplete="off"></label>` : ""}
      <div class="actions"><button value="cancel" class="secondary" formnovalidate>取消</button>
      <button value="ok" class="${danger ? "danger" : ""}" id="dialog-confirm">${esc(confirm)}</button></div></form>`;
    document.body.append(dialog);
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "ok";
      const value = ok ? (note ? $("input[name=note]", dialog).value.trim() : "") : null;
      dialog.remove();
      resolve(value);
    });
    dialog.showModal();
  });
}

export function empty(text) {
  return `<p class="empty">${esc(text)}</p>`;
}

/** Downloads a file the server gives only with the login (the CSV exports). */
export async function download(url, filename) {
  const response = await fetch(url, { headers: { authorization: "Bearer " + session.token } });
  if (!response.ok) {
    let code = "INTERNAL";
    try { code = (await response.json()).errors[0].extensions.code; } catch { /* not JSON */ }
    throw new ApiError(response.status === 401 ? "UNAUTHENTICATED" : code);
  }
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
}

/** A fresh idempotency key. */
export function newKey(prefix) {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return prefix + "-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
