import t from 'tap'
import { build, createUser } from './helper.js'

t.test('security headers: the JSON set on API answers, helmet\'s HTML set on the docs page', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const answers = {
    '/health/live': await app.inject({ method: 'GET', url: '/health/live' }),
    '/users/me': await user.inject({ method: 'GET', url: '/users/me' }),
    '/users/me without a token (401)': await app.inject({ method: 'GET', url: '/users/me' }),
    'an unknown route (404)': await app.inject({ method: 'GET', url: '/nowhere' }),
    'a path the router refuses (400)': await app.inject({ method: 'GET', url: '/users/%' })
  }
  for (const [name, res] of Object.entries(answers)) {
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${name}: nosniff`)
    t.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", `${name}: nothing loads, no framing`)
    t.equal(res.headers['x-frame-options'], 'DENY', `${name}: no framing for old browsers either`)
    t.equal(res.headers['cache-control'], 'no-store', `${name}: no cache keeps it`)
    t.equal(res.headers['cross-origin-resource-policy'], 'same-origin', `${name}: CORP`)
    t.match(res.headers['strict-transport-security'], /^max-age=31536000/, `${name}: HSTS`)
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/, `${name}: carries its request id`)
    t.notOk(res.headers['x-xss-protection'], `${name}: none of the HTML-only headers`)
  }
  const docs = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(docs.statusCode, 200)
  t.match(docs.headers['content-type'], /^text\/html/)
  t.match(docs.headers['content-security-policy'], /default-src 'self'/, 'the docs page may load its own scripts')
  t.match(docs.headers['content-security-policy'], /frame-ancestors 'none'/, 'the docs page cannot be framed')
  t.notMatch(docs.headers['content-security-policy'], /upgrade-insecure-requests/)
  t.equal(docs.headers['x-frame-options'], 'SAMEORIGIN')
  t.equal(docs.headers['x-content-type-options'], 'nosniff')
  t.equal(docs.headers['referrer-policy'], 'no-referrer')
  t.ok(docs.headers['strict-transport-security'], 'HSTS')
  t.match(docs.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})

t.test('CORS is off unless CORS_ORIGINS lists the origin', async (t) => {
  const closed = await build(t)
  const preflight = { method: 'OPTIONS' as const, url: '/users/me', headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' } }
  const refused = await closed.inject(preflight)
  t.notOk(refused.headers['access-control-allow-origin'], 'no CORS header without CORS_ORIGINS')

  const open = await build(t, { CORS_ORIGINS: 'https://shop.example,https://admin.example' })
  const allowed = await open.inject(preflight)
  t.equal(allowed.statusCode, 204)
  t.equal(allowed.headers['access-control-allow-origin'], 'https://shop.example')
  const other = await open.inject({ ...preflight, headers: { ...preflight.headers, origin: 'https://evil.example' } })
  t.notOk(other.headers['access-control-allow-origin'], 'an unlisted origin gets no CORS header')
})
