import t from 'tap'
import { schema } from '../src/db/index.js'
import { build, createUser, sqliteOf, dbOf } from './helper.js'

const sample = (text: string, line: RegExp) => Number(line.exec(text)?.[1] ?? NaN)

t.test('METRICS_ENABLED=true exposes Prometheus metrics by route pattern', async (t) => {
  const app = await build(t, { METRICS_ENABLED: 'true', SMTP_URL: 'smtp://127.0.0.1:1' })
  const user = await createUser(app)
  await user.inject({ method: 'GET', url: `/users/${user.id}` })
  await user.inject({ method: 'GET', url: `/users/${user.id}` })
  await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: 'wrong wrong wrong' } })
  await app.inject({ method: 'GET', url: '/no/such/route/42' })

  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain/)
  const text = res.body
  t.equal(sample(text, /^http_requests_total\{method="GET",route="\/users\/:id",status_code="200"\} (\d+)$/m), 2, 'counted by pattern')
  t.notMatch(text, new RegExp(`route="/users/${user.id}"`), 'never by raw URL')
  t.equal(sample(text, /^http_request_duration_seconds_count\{method="GET",route="\/users\/:id",status_code="200"\} (\d+)$/m), 2)
  t.equal(sample(text, /^auth_logins_total\{outcome="success"\} (\d+)$/m), 1, 'the login of createUser')
  t.equal(sample(text, /^auth_logins_total\{outcome="failure"\} (\d+)$/m), 1)
  t.equal(sample(text, /^http_requests_total\{method="GET",route="unmatched",status_code="404"\} (\d+)$/m), 1, 'unknown routes share one label')
  t.notMatch(text, /no\/such/)
  t.match(text, /^mail_outbox_backlog 0$/m)
  t.match(text, /^process_cpu_user_seconds_total /m, 'process metrics too')

  // Read at scrape time: a queued e-mail shows at once, a sent one leaves.
  // Due in an hour, so the worker leaves it alone meanwhile.
  const queued = dbOf(app).insert(schema.mailOutbox).values({ recipient: user.email, subject: 'Hello', body: 'Body', nextAttemptAt: Date.now() + 3_600_000 }).returning().get()
  t.match((await app.inject({ method: 'GET', url: '/metrics' })).body, /^mail_outbox_backlog 1$/m)
  sqliteOf(app).prepare('UPDATE mail_outbox SET sent_at = ? WHERE id = ?').run(Date.now(), queued.id)
  const after = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(after, /^mail_outbox_backlog 0$/m)
  t.equal(sample(after, /^http_requests_total\{method="GET",route="\/metrics",status_code="200"\} (\d+)$/m), 2, 'the scrapes count too')

  const document = app.swagger() as { paths: Record<string, unknown> }
  t.notOk('/metrics' in document.paths, '/metrics stays out of the API document')
})

t.test('metrics are off by default', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'ROUTE_NOT_FOUND', error: 'Not Found', message: 'Route GET /metrics not found' })
})
