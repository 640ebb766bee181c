import t from 'tap'
import { build, createUser } from './helper.js'

const sample = (text: string, line: RegExp) => Number(line.exec(text)?.[1] ?? NaN)

t.test('METRICS_ENABLED=true exposes Prometheus metrics by route pattern', async (t) => {
  const app = await build(t, { METRICS_ENABLED: 'true', SMTP_URL: 'smtp://127.0.0.1:1' })
  const user = await createUser(app)
  await user.inject({ method: 'GET', url: `/users/${user.id}` })
  await user.inject({ method: 'GET', url: `/users/${user.id}` })
  await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: 'wrong wrong wrong' } })

  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain/)
  const text = res.body
  t.equal(sample(text, /^http_requests_total\{method="GET",route="\/users\/:id",status_code="200"\} (\d+)$/m), 2, 'counted by pattern')
  t.notMatch(text, new RegExp(`route="/users/${user.id}"`), 'never by raw URL')
  t.equal(sample(text, /^http_request_duration_seconds_count\{method="GET",route="\/users\/:id",status_code="200"\} (\d+)$/m), 2)
  t.equal(sample(text, /^auth_logins_total\{outcome="success"\} (\d+)$/m), 1, 'the login of createUser')
  t.equal(sample(text, /^auth_logins_total\{outcome="failure"\} (\d+)$/m), 1)
  t.match(text, /^mail_outbox_backlog 0$/m)
  t.match(text, /^process_cpu_user_seconds_total /m, 'process metrics too')

  const document = app.swagger() as { paths: Record<string, unknown> }
  t.notOk('/metrics' in document.paths, '/metrics stays out of the API document')
})

t.test('metrics are off by default', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
})
