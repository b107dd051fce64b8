// The pages' one script (no inline script anywhere: the Content-Security-
// Policy forbids it). Each form posts JSON to one of the gateway's five
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
    'field.email': 'E-mail address',
    'field.code': 'Code from the mail',
    'field.username': 'Username',
    'field.password': 'Password',
    'field.new_password': 'New password',
    'hint.password': 'Hard to guess: three or four unrelated words work well.',
    'button.send_code': 'Send code',
    'button.register': 'Create account',
    'button.reset': 'Set new password',
    'button.check': 'Check',
    'button.login': 'Sign in',
    switch: '中文',
    working: 'One moment…',
    offline: 'The server could not be reached. Check your connection and try again.',
    'ok.code': (a) => `A code is on its way to ${a.email}. It is valid for a few minutes; check your spam folder too.` +
      (a.retry_after_secs ? ` A new one can be sent in ${a.retry_after_secs} seconds.` : ''),
    'ok.register': (a) => `Account "${a.username}" created. You can sign in now.`,
    'ok.reset': () => 'Your password is changed. Sign in with the new one.',
    'ok.check': (a) => `The account "${a.username}" with ${a.email} exists.`,
    'ok.login': (a) => `Signed in. Your chat server is ${a.host}:${a.port}.`,
    1: 'Something is missing. Fill in every field and try again.',
    2: 'The network between the services failed. Try again in a minute.',
    3: 'A service behind this site did not answer. Try again in a minute.',
    4: 'The chat service does not know this server. Try again later.',
    5: 'The chat service already knows this server. Try again later.',
    6: 'No chat server is available right now. Try again in a few minutes.',
    7: 'The chat service already knows this chat server. Try again later.',
    8: 'Codes and sign-ins cannot be checked right now. Try again in a minute.',
    '8.code': 'The code could not be stored, so none was sent. Try again in a minute.',
    9: 'This code is wrong, already used or expired. Use the code of the latest mail, or ask for a new one.',
    10: 'Accounts cannot be reached right now. Try again in a minute.',
    11: 'Some account information is missing. Try again later.',
    12: 'No account has this username and e-mail address.',
    13: 'Wrong username or password.',
    14: 'The chat server did not accept the sign-in. Sign in again.',
    15: 'You are signed in elsewhere already.',
    16: 'Signing out did not work. Try again.',
    17: 'No user has this name.',
    18: 'You cannot add yourself as a friend.',
    19: 'The friend request did not work. Try again later.',
    20: 'No user has this name.',
    21: 'The upload did not work. Try again later.',
    22: 'The file could not be created. Try again later.',
    23: 'The file could not be opened. Try again later.',
    24: 'The file could not be written. Try again later.',
    25: 'Not accepted. Check the e-mail address and the username.',
    '25.code': 'This is not an e-mail address we can send to. Check it (at most 100 characters, like name@example.com).',
    '25.login': 'Not accepted. Check the username, and that the password has 8 to 128 characters.',
    '25.password': 'Not accepted. Check the e-mail address and the username, and choose a password that is hard to guess: at least 8 characters, better three or four unrelated words, not your name and nothing like "Password123".',
    26: 'This username or e-mail address is taken, or too much like one that is. Choose another.',
    '27.code': (w) => `Too many codes asked for just now: a code may already be on its way, so look in your inbox and spam folder. Ask again in ${w.code}, or in ${w.address} if many people share your network.`,
    '27.login': (w) => `Too many attempts. Wait up to ${w.login} before signing in again, or set a new password with "Forgot your password?".`,
    27: (w) => `Too many requests just now. Wait up to ${w.address} and try again.`,
    minutes: (n) => (n === 1 ? '1 minute' : `${n} minutes`),
    seconds: (n) => `${n} seconds`,
    other: (code) => `Something went wrong (code ${code}). Try again later.`,
  },
  'zh-CN': {
    site: '聊天账户',
    'home.title': '您的聊天账户',
    'register.title': '注册账户',
    'login.title': '登录',
    'reset.title': '忘记密码？',
    'check.title': '查询账户',
    'field.email': '电子邮箱',
    'field.code': '邮件中的验证码',
    'field.username': '用户名',
    'field.password': '密码',
    'field.new_password': '新密码',
    'hint.password': '请使用不易猜到的密码：三四个互不相关的词效果很好。',
    'button.send_code': '发送验证码',
    'button.register': '注册',
    'button.reset': '设置新密码',
    'button.check': '查询',
    'button.login': '登录',
    switch: 'English',
    working: '请稍候…',
    offline: '无法连接服务器。请检查网络后重试。',
    'ok.code': (a) => `验证码已发送至 ${a.email}，几分钟内有效；也请查看垃圾邮件文件夹。` +
      (a.retry_after_secs ? `${a.retry_after_secs} 秒后可以重新发送。` : ''),
    'ok.register': (a) => `账户“${a.username}”已创建，现在可以登录了。`,
    'ok.reset': () => '密码已更改，请用新密码登录。',
    'ok.check': (a) => `账户“${a.username}”（${a.email}）存在。`,
    'ok.login': (a) => `登录成功。您的聊天服务器是 ${a.host}:${a.port}。`,
    1: '信息不完整。请填写所有字段后重试。',
    2: '服务之间的网络出现故障。请一分钟后重试。',
    3: '后台服务没有响应。请一分钟后重试。',
    4: '聊天服务不认识此服务器。请稍后重试。',
    5: '聊天服务已登记此服务器。请稍后重试。',
    6: '目前没有可用的聊天服务器。请几分钟后重试。',
    7: '聊天服务已登记此聊天服务器。请稍后重试。',
    8: '暂时无法核对验证码和登录。请一分钟后重试。',
    '8.code': '验证码无法保存，因此没有发送。请一分钟后重试。',
    9: '验证码错误、已使用或已过期。请使用最新邮件中的验证码，或重新获取。',
    10: '暂时无法访问账户数据。请一分钟后重试。',
    11: '账户信息不完整。请稍后重试。',
    12: '没有与此用户名和邮箱对应的账户。',
    13: '用户名或密码错误。',
    14: '聊天服务器没有接受此次登录。请重新登录。',
    15: '您已在别处登录。',
    16: '退出登录没有成功。请重试。',
    17: '没有使用此名称的用户。',
    18: '不能添加自己为好友。',
    19: '好友请求没有成功。请稍后重试。',
    20: '没有使用此名称的用户。',
    21: '上传没有成功。请稍后重试。',
    22: '无法创建文件。请稍后重试。',
    23: '无法打开文件。请稍后重试。',
    24: '无法写入文件。请稍后重试。',
    25: '输入不被接受。请检查邮箱地址和用户名。',
    '25.code': '这不是可以发送邮件的邮箱地址。请检查（最多 100 个字符，格式如 name@example.com）。',
    '25.login': '输入不被接受。请检查用户名，并确认密码为 8 到 128 个字符。',
    '25.password': '输入不被接受。请检查邮箱地址和用户名，并选择不易猜到的密码：至少 8 个字符，最好是三四个互不相关的词，不要用自己的名字，也不要用“Password123”之类的密码。',
    26: '此用户名或邮箱已被使用，或与已有的过于相似。请换一个。',
    '27.code': (w) => `刚才申请验证码的次数过多：验证码可能已在路上，请查看收件箱和垃圾邮件文件夹。请 ${w.code}后再申请；如果许多人共用您的网络，请 ${w.address}后再试。`,
    '27.login': (w) => `尝试次数过多。请最多等待 ${w.login}后再登录，或通过“忘记密码？”设置新密码。`,
    27: (w) => `刚才的请求过多。请最多等待 ${w.address}后重试。`,
    minutes: (n) => `${n} 分钟`,
    seconds: (n) => `${n} 秒`,
    other: (code) => `出现问题（代码 ${code}）。请稍后重试。`,
  },
};

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

/** How long the limits make one wait, from the page's
 *  `<meta name="gateway-waits" content="code=60 login=900 address=300">`
 *  (the gateway's settings), in words. */
function waits() {
  const meta = document.querySelector('meta[name=gateway-waits]');
  const seconds = { code: 60, login: 900, address: 300 };
  for (const pair of (meta?.content || '').split(' ')) {
    const [name, value] = pair.split('=');
    if (name in seconds && Number(value) > 0) seconds[name] = Number(value);
  }
  const words = {};
  for (const [name, value] of Object.entries(seconds)) {
    words[name] = value < 60 ? t('seconds', value) : t('minutes', Math.ceil(value / 60));
  }
  return words;
}

/** The sentence for an answer to a form of `kind`: the endpoint's own
 *  sentence for a code where there is one, else the code's. */
function describe(kind, answer, sent) {
  const code = answer.error;
  if (code === 0) return t(`ok.${kind}`, { ...sent, ...answer });
  const own = code === 25 && (kind === 'register' || kind === 'reset') ? '25.password' : `${code}.${kind}`;
  for (const key of [own, String(code)]) {
    if (key in TEXT.en) return t(key, waits());
  }
  return t('other', code);
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
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  show(form, t('working'), true);
  try {
    const response = await fetch(form.dataset.action, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
    const answer = await response.json();
    show(form, describe(kind, answer, body), answer.error === 0);
    if (answer.error === 0 && kind === 'code') document.getElementById('code')?.focus();
  } catch {
    show(form, t('offline'), false);
  } finally {
    button.disabled = false;
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
});
