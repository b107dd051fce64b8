// The pages' one script (no inline script anywhere: the Content-Security-
// Policy forbids it). Each form posts JSON to one of the gateway's
// endpoints, same origin, and shows the answer as a sentence in the
// reader's language: English or Simplified Chinese, from the browser's
// languages, with a switch that is remembered.
'use strict';

const TEXT = {
  en: {
    site: 'Chat account',
    'home.title': 'Your chat account',
    'register.title': 'Create an account',
    'login.title': 'Sign in',
    'reset.title': 'Forgot your password?',
    'check.title': 'Check an account',
    'confirm.title': 'Confirm the new password',
    'field.email': 'E-mail address',
    'field.code': 'Code from the mail',
    'field.username': 'Username',
    'field.password': 'Password',
    'field.new_password': 'New password',
    'field.new_password_again': 'The new password, once more',
    'hint.password': 'Hard to guess: three or four unrelated words work well.',
    'button.send_code': 'Send code',
    'button.register': 'Create account',
    'button.reset': 'Set new password',
    'button.check': 'Check',
    'button.login': 'Sign in',
    'button.confirm': 'Confirm the new password',
    'confirm.checking': 'Checking the link…',
    'confirm.pending': (a) => `A new password for the account "${a.username}" waits for you to confirm it: ` +
      `type it once more and press the button. Until then nothing changes. The link works for ${lasting(a.expires_in_secs)} more.`,
    switch: '中文',
    working: 'One moment…',
    offline: 'The server could not be reached. Check your connection and try again.',
    'ok.code': (a) => `A code is on its way to ${a.email}. It is valid for a few minutes; check your spam folder too.` +
      (a.retry_after_secs ? ` A new one can be sent in ${a.retry_after_secs} seconds.` : ''),
    'ok.register': (a) => `Account "${a.username}" created. You can sign in now.`,
    'ok.reset': () => 'Your password is changed. Sign in with the new one.',
    'ok.check': (a) => `The account "${a.username}" with ${a.email} exists.`,
    'ok.login': (a) => `Signed in. Your chat server is ${a.host}:${a.port}.`,
    'ok.confirm': (a) => `The new password of "${a.username}" is set. Sign in with it.`,
    other: (code) => `Something went wrong (code ${code}). Try again later.`,
  },
  'zh-CN': {
    site: '聊天账户',
    'home.title': '您的聊天账户',
    'register.title': '注册账户',
    'login.title': '登录',
    'reset.title': '忘记密码？',
    'check.title': '查询账户',
    'confirm.title': '确认新密码',
    'field.email': '电子邮箱',
    'field.code': '邮件中的验证码',
    'field.username': '用户名',
    'field.password': '密码',
    'field.new_password': '新密码',
    'field.new_password_again': '再次输入新密码',
    'hint.password': '请使用不易猜到的密码：三四个互不相关的词效果很好。',
    'button.send_code': '发送验证码',
    'button.register': '注册',
    'button.reset': '设置新密码',
    'button.check': '查询',
    'button.login': '登录',
    'button.confirm': '确认新密码',
    'confirm.checking': '正在检查链接…',
    'confirm.pending': (a) => `账户“${a.username}”的新密码正等待您确认：请再输入一次新密码并点击按钮。在此之前，什么都不会改变。` +
      `此链接还可使用 ${lasting(a.expires_in_secs)}。`,
    switch: 'English',
    working: '请稍候…',
    offline: '无法连接服务器。请检查网络后重试。',
    'ok.code': (a) => `验证码已发送至 ${a.email}，几分钟内有效；也请查看垃圾邮件文件夹。` +
      (a.retry_after_secs ? `${a.retry_after_secs} 秒后可以重新发送。` : ''),
    'ok.register': (a) => `账户“${a.username}”已创建，现在可以登录了。`,
    'ok.reset': () => '密码已更改，请用新密码登录。',
    'ok.check': (a) => `账户“${a.username}”（${a.email}）存在。`,
    'ok.login': (a) => `登录成功。您的聊天服务器是 ${a.host}:${a.port}。`,
    'ok.confirm': (a) => `“${a.username}”的新密码已设置，请用它登录。`,
    other: (code) => `出现问题（代码 ${code}）。请稍后重试。`,
  },
};

/** A time span in the reader's language: seconds under a minute, else
 *  whole minutes (rounded down: never promise more than is left). */
function lasting(seconds) {
  const zh = language === 'zh-CN';
  if (seconds < 60) return zh ? `${seconds} 秒` : `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.floor(seconds / 60);
  return zh ? `${minutes} 分钟` : `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

const STORED = 'gateway-language';

/** localStorage, where the browser allows it (it may refuse site data). */
const remembered = {
  get() {
    try { return localStorage.getItem(STORED); } catch { return null; }
  },
  set(value) {
    try { localStorage.setItem(STORED, value); } catch { /* not remembered */ }
  },
};

/** The reader's language: the switch's choice, else the browser's first
 *  language we have (Chinese written in Traditional characters is not). */
function pickLanguage() {
  const stored = remembered.get();
  if (stored && TEXT[stored]) return stored;
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const lower = tag.toLowerCase();
    if (lower.startsWith('en')) return 'en';
    if (lower.startsWith('zh')) {
      if (/-(hant|tw|hk|mo)\b/.test(lower)) continue;
      return 'zh-CN';
    }
  }
  return 'en';
}

let language = pickLanguage();

function t(key, ...values) {
  const text = TEXT[language][key] ?? TEXT.en[key];
  return typeof text === 'function' ? text(...values) : text;
}

function translate() {
  document.documentElement.lang = language;
  for (const element of document.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  document.title = t(document.querySelector('h1').dataset.i18n);
  const toggle = document.querySelector('[data-switch-language]');
  toggle.textContent = t('switch');
  toggle.lang = language === 'en' ? 'zh-CN' : 'en';
}

/** The sentence for an answer to a form of `kind`: ours for a success,
 *  the gateway's `message` (in the language asked for) for a failure. */
function describe(kind, answer, sent) {
  if (answer.error === 0) return t(`ok.${kind}`, { ...sent, ...answer });
  return answer.message || t('other', answer.error);
}

function show(form, text, ok) {
  const message = form.querySelector('.message');
  message.textContent = text;
  message.className = `message ${ok ? 'ok' : 'error'}`;
}

async function submit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const kind = form.dataset.kind;
  const body = {};
  for (const input of form.querySelectorAll('input[name]')) body[input.name] = input.value;
  // The second step of a flow reuses the address of the first.
  const email = document.getElementById('email');
  if (email && !('email' in body)) body.email = email.value;
  if (kind === 'code') body.locale = language;
  if (kind === 'confirm') body.token = linkToken();
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  show(form, t('working'), true);
  try {
    const response = await fetch(form.dataset.action, {
      method: 'POST',
      // The gateway writes its `message` in this language.
      headers: { 'Content-Type': 'application/json', 'Accept-Language': language },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
    const answer = await response.json();
    show(form, describe(kind, answer, body), answer.error === 0);
    if (answer.error === 0 && kind === 'code') document.getElementById('code')?.focus();
    if (kind === 'confirm' && answer.error === 0) confirmed();
  } catch {
    show(form, t('offline'), false);
  } finally {
    // A confirmed link is spent: its button stays off.
    button.disabled = kind === 'confirm' && button.hidden;
  }
}

/** The confirmation link's token: what follows its `#`. */
function linkToken() {
  const raw = location.hash.slice(1);
  // A mangled link (a stray %) is sent as it is: the gateway says what is wrong.
  try { return decodeURIComponent(raw); } catch { return raw; }
}

/** After a confirmation: the link is spent; it leaves the address bar and
 *  history, and the way on is to sign in. */
function confirmed() {
  document.querySelector('[data-kind=confirm] button[type=submit]').hidden = true;
  document.getElementById('retype').hidden = true;
  document.getElementById('password').value = '';
  document.getElementById('pending').textContent = '';
  document.getElementById('next').hidden = false;
  history.replaceState(null, '', location.pathname);
}

/** The confirmation page: looks the link up before offering its button,
 *  so a used, replaced or expired link says so at once. */
async function lookUpLink() {
  const form = document.querySelector('[data-kind=confirm]');
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  show(form, t('confirm.checking'), true);
  try {
    const response = await fetch('/pending_reset', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept-Language': language },
      body: JSON.stringify({ token: linkToken() }),
      credentials: 'same-origin',
    });
    const answer = await response.json();
    if (answer.error === 0) {
      document.getElementById('pending').textContent = t('confirm.pending', answer);
      show(form, '', true);
      document.getElementById('retype').hidden = false;
      button.hidden = false;
      button.disabled = false;
    } else {
      show(form, describe('confirm', answer, {}), false);
    }
  } catch {
    show(form, t('offline'), false);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  translate();
  document.querySelector('[data-switch-language]').addEventListener('click', () => {
    language = language === 'en' ? 'zh-CN' : 'en';
    remembered.set(language);
    translate();
    // A message already shown stays in the language it was written in
    // until the next answer.
  });
  // The buttons come disabled: a form must not submit before its handler
  // is attached (it would not post JSON; the policy blocks it anyway).
  for (const form of document.querySelectorAll('form[data-action]')) {
    form.addEventListener('submit', submit);
    form.querySelector('button[type=submit]').disabled = false;
  }
  if (document.body.dataset.page === 'confirm') lookUpLink();
});
