"""The small web chat page Grace serves: static HTML plus one script, no inline code."""

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
</style>
</head>
<body>
<h1>MAD ecosystem</h1>
<p>Talk to the ecosystem through Grace. Your access token stays in this tab.</p>
<label>Access token <input id="token" type="password" autocomplete="off"></label>
<div id="log" aria-live="polite"></div>
<form id="chat">
  <input id="message" name="message" maxlength="4000" placeholder="Say something" required>
  <button type="submit">Send</button>
</form>
<script src="/chat.js"></script>
</body>
</html>
"""

SCRIPT = """'use strict';
let conversation = null;
const log = document.getElementById('log');
const token = document.getElementById('token');
token.value = sessionStorage.getItem('mad-token') || '';
function show(cls, text) {
  const p = document.createElement('p');
  p.className = cls;
  p.textContent = text;
  log.appendChild(p);
}
document.getElementById('chat').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('message');
  const message = input.value;
  sessionStorage.setItem('mad-token', token.value);
  show('user', 'You: ' + message);
  input.value = '';
  const body = { message };
  if (conversation) body.conversation_id = conversation;
  const response = await fetch('/api/chat', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token.value },
    body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) { show('error', 'Error: ' + data.error); return; }
  conversation = data.conversation_id;
  show('assistant', 'MAD (' + data.model + '): ' + data.reply);
});
"""
