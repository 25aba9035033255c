/**
 * The page a person signed in through Tenantry sees at `/`: who they are, in which organisation,
 * their meetings, a form that creates one, and the organisation switcher. It holds no data of its
 * own: its script calls the same /v1 API as any client, with the sign-in cookie (which no script
 * can read) and the CSRF header that state-changing calls from a browser need.
 */
export const HOME_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Minutes</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
label{display:block;margin:.5rem 0}input{font:inherit}button{font:inherit}</style>
</head>
<body>
<header>
<h1>Minutes</h1>
<p id="who" aria-live="polite">Loading…</p>
</header>
<main>
<section id="signed-out" hidden>
<p><a id="sign-in" href="/login">Sign in</a></p>
</section>
<section id="signed-in" hidden>
<dl>
<dt>Organisation</dt><dd id="tenant"></dd>
<dt>Roles</dt><dd id="roles"></dd>
<dt>Permissions</dt><dd id="permissions"></dd>
</dl>
<h2>New meeting</h2>
<form id="new-meeting">
<label>Title <input id="meeting-title" name="title" required maxlength="200"></label>
<button type="submit">Create meeting</button>
</form>
<p id="result" role="status"></p>
<h2>Meetings</h2>
<ul id="meetings"></ul>
<h2>Organisation</h2>
<form method="get" action="/login">
<label>Switch to organisation (id or slug) <input name="organization" required></label>
<button type="submit">Switch</button>
</form>
<p><a href="/login?select">Choose from my organisations</a></p>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
</section>
</main>
<script>
const show = (id, text) => { document.getElementById(id).textContent = text; };
async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? { 'x-minutes-csrf': '1' } : { 'content-type': 'application/json', 'x-minutes-csrf': '1' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}
async function listMeetings() {
  const list = await api('GET', '/v1/meetings');
  const ul = document.getElementById('meetings');
  ul.replaceChildren();
  if (list.status !== 200) { show('meetings', list.body.detail); return; }
  for (const meeting of list.body.meetings) {
    const li = document.createElement('li');
    li.textContent = meeting.title;
    ul.append(li);
  }
}
async function load() {
  const me = await api('GET', '/v1/me');
  if (me.status !== 200) {
    show('who', 'You are not signed in.');
    document.getElementById('signed-out').hidden = false;
    return;
  }
  show('who', 'Signed in as ' + me.body.subject);
  show('tenant', me.body.tenant_id + ' (' + me.body.plan + ' plan)');
  show('roles', me.body.roles.join(', ') || 'none');
  show('permissions', me.body.permissions.join(', ') || 'none');
  document.getElementById('signed-in').hidden = false;
  await listMeetings();
}
document.getElementById('new-meeting').addEventListener('submit', async (event) => {
  event.preventDefault();
  const created = await api('POST', '/v1/meetings', { title: document.getElementById('meeting-title').value });
  show('result', created.status === 201 ? 'Created "' + created.body.title + '"' : created.status + ' ' + created.body.code + ': ' + created.body.detail);
  await listMeetings();
});
load();
</script>
</body>
</html>
`;
