// Log in to a plain-HTTP sandbox the way a person would (login form, then Allow) and return the
// callback URL the sandbox redirects to.
const attribute = (tag, name) => {
  const match = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag);
  return match?.[1]?.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');
};

function readForm(html, pageUrl) {
  const formTag = /<form\b[^>]*>/i.exec(html)?.[0];
  if (formTag === undefined) throw new Error('the sandbox page has no form');
  const fields = new URLSearchParams();
  for (const [tag] of html.matchAll(/<input\b[^>]*>/gi)) {
    if (attribute(tag, 'type') === 'hidden' && attribute(tag, 'name') !== undefined) {
      fields.append(attribute(tag, 'name'), attribute(tag, 'value') ?? '');
    }
  }
  return { action: new URL(attribute(formTag, 'action') ?? '', pageUrl), fields };
}

async function page(url, body) {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    redirect: 'manual',
    headers: body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' },
    ...(body === undefined ? {} : { body: body.toString() }),
  });
  return {
    status: response.status,
    location: response.headers.get('location'),
    html: await response.text(),
  };
}

/** Returns the callback URL (with the code) for `authorizeUrl`. */
export async function approveInSandbox(authorizeUrl) {
  const start = new URL(authorizeUrl);
  const first = await page(start);
  const login = readForm(first.html, start);
  login.fields.set('username', 'bench-user');
  login.fields.set('password', 'bench-password');
  const second = await page(login.action, login.fields);
  const consent = readForm(second.html, login.action);
  consent.fields.set('decision', 'allow');
  const third = await page(consent.action, consent.fields);
  if (third.location === null) throw new Error(`the sandbox consent answered ${third.status}`);
  return third.location;
}
