import t from 'tap'
import { build } from './helper.js'

t.test('security headers on API answers and on the docs page', async (t) => {
  const app = await build(t)
  for (const url of ['/health/live', '/docs/']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url} nosniff`)
    t.match(res.headers['content-security-policy'], /default-src 'self'/, `${url} has a CSP`)
    t.match(res.headers['content-security-policy'], /frame-ancestors 'none'/, `${url} cannot be framed`)
    t.notMatch(res.headers['content-security-policy'], /upgrade-insecure-requests/)
    t.ok(res.headers['strict-transport-security'], `${url} HSTS`)
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/, `${url} carries its request id`)
  }
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
