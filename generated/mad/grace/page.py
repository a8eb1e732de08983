"""The small web chat page Grace serves: static HTML plus one script, no inline code.

Besides chatting, the page lists the user's conversations a page at a time with their tags,
filters them by tag, and adds or removes tags of the open conversation (REQ-GRACE-9), all through
the same API. Text from the server is only ever set as ``textContent``, never parsed as HTML.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MAD ecosystem - chat with Grace</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
#log { border: 1px solid #ccc; border-radius: 6px; padding: .5rem; min-height: 12rem; }
.user { color: #114; } .assistant { color: #141; } .error { color: #a11; }
form { display: flex; gap: .5rem; margin-top: .5rem; } #message { flex: 1; }
.tag { display: inline-block; border: 1px solid #99a; border-radius: 3px; padding: 0 .3rem; margin: 0 .2rem; }
#conversations li { cursor: pointer; }
</style>
</head>
<body>
<h1>MAD ecosystem</h1>
<p>Talk to the ecosystem through Grace. Your access token stays in this tab.</p>
<label>Access token <input id="token" type="password" autocomplete="off"></label>
<section id="list">
  <h2>Conversations</h2>
  <form id="filter">
    <input id="filter-tag" maxlength="32" placeholder="only this tag" pattern="[a-z0-9][a-z0-9-]{0,31}">
    <button type="submit">List</button>
  </form>
  <ul id="conversations"></ul>
  <button id="more" type="button" hidden>More</button>
</section>
<section id="current">
  <h2>Chat <span id="current-tags"></span></h2>
  <form id="tagging" hidden>
    <input id="new-tag" maxlength="32" placeholder="add a tag" pattern="[a-z0-9][a-z0-9-]{0,31}" required>
    <button type="submit">Tag</button>
  </form>
  <div id="log" aria-live="polite"></div>
  <form id="chat">
    <input id="message" name="message" maxlength="4000" placeholder="Say something" required>
    <button type="submit">Send</button>
  </form>
</section>
<script src="/chat.js"></script>
</body>
</html>
"""

SCRIPT = """'use strict';
let conversation = null;
let next = null;
const log = document.getElementById('log');
const token = document.getElementById('token');
const list = document.getElementById('conversations');
const more = document.getElementById('more');
token.value = sessionStorage.getItem('mad-token') || '';
function show(cls, text) {
  const p = document.createElement('p');
  p.className = cls;
  p.textContent = text;
  log.appendChild(p);
}
async function api(method, path, body) {
  sessionStorage.setItem('mad-token', token.value);
  const headers = { 'Authorization': 'Bearer ' + token.value };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { response, data: await response.json() };
}
function nextLink(response) {
  const link = response.headers.get('Link') || '';
  const found = /<([^>]+)>;\\s*rel="next"/.exec(link);
  return found ? found[1] : null;
}
function showTags(tags) {
  const holder = document.getElementById('current-tags');
  holder.replaceChildren();
  for (const tag of tags) {
    const span = document.createElement('span');
    span.className = 'tag';
    span.textContent = tag + ' ';
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'x';
    remove.title = 'remove tag ' + tag;
    remove.addEventListener('click', async () => {
      const path = '/api/conversations/' + encodeURIComponent(conversation) + '/tags/' + encodeURIComponent(tag);
      const { response, data } = await api('DELETE', path);
      if (!response.ok) { show('error', 'Error: ' + data.error); return; }
      showTags(data.tags);
    });
    span.appendChild(remove);
    holder.appendChild(span);
  }
  document.getElementById('tagging').hidden = !conversation;
}
async function open(id) {
  const { response, data } = await api('GET', '/api/conversations/' + encodeURIComponent(id));
  if (!response.ok) { show('error', 'Error: ' + data.error); return; }
  conversation = id;
  log.replaceChildren();
  for (const turn of data.messages) show(turn.role, (turn.role === 'user' ? 'You: ' : 'MAD: ') + turn.text);
  showTags(data.conversation.tags || []);
}
async function listPage(path, append) {
  const { response, data } = await api('GET', path);
  if (!response.ok) { show('error', 'Error: ' + data.error); return; }
  if (!append) list.replaceChildren();
  for (const item of data) {
    const li = document.createElement('li');
    li.textContent = (item.title || item.id) + (item.tags.length ? ' [' + item.tags.join(', ') + ']' : '');
    li.addEventListener('click', () => open(item.id));
    list.appendChild(li);
  }
  next = nextLink(response);
  more.hidden = !next;
}
document.getElementById('filter').addEventListener('submit', (event) => {
  event.preventDefault();
  const tag = document.getElementById('filter-tag').value;
  listPage('/api/conversations' + (tag ? '?tag=' + encodeURIComponent(tag) : ''), false);
});
more.addEventListener('click', () => { if (next) listPage(next, true); });
document.getElementById('tagging').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('new-tag');
  const path = '/api/conversations/' + encodeURIComponent(conversation) + '/tags';
  const { response, data } = await api('POST', path, { tags: [input.value] });
  if (!response.ok) { show('error', 'Error: ' + data.error); return; }
  input.value = '';
  showTags(data.tags);
});
document.getElementById('chat').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('message');
  const message = input.value;
  show('user', 'You: ' + message);
  input.value = '';
  const body = { message };
  if (conversation) body.conversation_id = conversation;
  const { response, data } = await api('POST', '/api/chat', body);
  if (!response.ok) { show('error', 'Error: ' + data.error); return; }
  if (conversation !== data.conversation_id) { conversation = data.conversation_id; showTags([]); }
  show('assistant', 'MAD (' + data.model + '): ' + data.reply);
});
"""
