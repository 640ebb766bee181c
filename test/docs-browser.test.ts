import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { chromium, type Page } from 'playwright-core'
import { build, createClient, createUser } from './helper.js'
import { SCOPE_NAMES, SCOPES } from '../src/scopes.js'

const CHROMIUM = '/usr/bin/chromium'
const artifacts = path.resolve(import.meta.dirname, 'artifacts')
// Without Chromium the test is skipped on a developer's machine, saying why, and fails in
// CI, where everything must run (as the PostgreSQL and Redis tests do).
const missing = fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium); the Swagger UI browser test did not run`
if (missing && process.env.CI) t.fail(`Chromium is required in CI. ${missing}`)
const skip = missing && !process.env.CI ? missing : false
if (skip) t.comment(`SKIPPED: ${skip}`)

/** Expands GET <path>, presses Try it out and Execute, and returns the answer's status and body. */
async function tryGet (page: Page, path: string) {
  const operation = page.locator('.opblock-get').filter({ has: page.locator(`[data-path="${path}"]`) })
  if (!(await operation.locator('.try-out__btn').isVisible())) await operation.locator('.opblock-summary').click()
  // Clear an earlier answer, so this run waits for its own.
  const clear = operation.locator('button.btn-clear')
  if (await clear.isVisible()) await clear.click()
  const tryOut = operation.locator('.try-out__btn')
  if ((await tryOut.textContent())?.includes('Try it out')) await tryOut.click()
  await operation.locator('button.execute').click()
  const status = operation.locator('.live-responses-table tr.response .response-col_status').first()
  await status.waitFor()
  const body = await operation.locator('.live-responses-table tr.response .response-col_description pre').first().textContent()
  await status.scrollIntoViewIfNeeded()
  return { status: Number((await status.textContent())?.trim()), body: body ?? '' }
}

async function openDocs (t: Test, base: string) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.goto(`${base}/docs`)
  await page.locator('.swagger-ui .btn.authorize').first().waitFor()
  return page
}

/** The Authorize dialog's section for one OAuth2 flow ('password', 'clientCredentials'). */
const flowSection = (page: Page, flow: string) => page.locator('.dialog-ux .auth-container').filter({ has: page.locator('p.flow code', { hasText: new RegExp(`^${flow}$`) }) })

t.test('Swagger UI: Authorize offers both OAuth2 flows, each with a checkbox per scope', { skip, timeout: 120_000 }, async (t) => {
  const app = await build(t)
  const page = await openDocs(t, await app.listen({ host: '127.0.0.1', port: 0 }))
  await page.locator('.swagger-ui .btn.authorize').first().click()
  const flows = await page.locator('.dialog-ux .auth-container p.flow code').allTextContents()
  t.same(flows, ['password', 'clientCredentials'], 'the password and the client credentials flow')
  for (const flow of flows) {
    const section = flowSection(page, flow)
    t.equal(await section.locator('h4').textContent().then((text) => text?.trim()), `OAuth2 (OAuth2, ${flow})`)
    t.equal(await section.locator('p:has-text("Token URL") code').textContent().then((text) => text?.trim()), '/auth/token')
    t.same(await section.locator('.scopes input[type="checkbox"]').evaluateAll((boxes) => boxes.map((box) => box.getAttribute('data-value'))),
      SCOPE_NAMES, `${flow}: one checkbox per scope, in the contract's order`)
    t.same(await section.locator('.scopes p.description').allTextContents(), SCOPE_NAMES.map((scope) => SCOPES[scope]), `${flow}: each described`)
  }
  t.ok(await flowSection(page, 'clientCredentials').locator('#client_id_clientCredentials').isVisible(), 'client credentials asks for client_id')
  t.ok(await flowSection(page, 'clientCredentials').locator('#client_secret_clientCredentials').isVisible(), 'and client_secret')
})

t.test('Swagger UI: Authorize with the password flow, then Try it out on GET /users/me', { skip, timeout: 120_000 }, async (t) => {
  const app = await build(t)
  const user = await createUser(app, { email: 'docs-user@example.test' })
  const page = await openDocs(t, await app.listen({ host: '127.0.0.1', port: 0 }))

  // Without authorisation, the protected operation is refused.
  const anonymous = await tryGet(page, '/users/me')
  t.equal(anonymous.status, 401, 'a protected operation without authorisation shows 401')

  await page.locator('.swagger-ui .btn.authorize').first().click()
  const password = flowSection(page, 'password')
  await password.locator('#oauth_username').fill(user.email)
  await password.locator('#oauth_password').fill(user.password)
  await password.locator('button.authorize').click()
  await password.locator('button:has-text("Logout")').waitFor()
  t.pass('the password flow against /auth/token succeeded')
  await page.locator('.dialog-ux button.close-modal').click()

  const authorised = await tryGet(page, '/users/me')
  t.equal(authorised.status, 200, 'after Authorize, Try it out on GET /users/me gives 200')
  t.match(JSON.parse(authorised.body), { id: user.id, email: user.email, role: 'customer' })

  fs.mkdirSync(artifacts, { recursive: true })
  await page.screenshot({ path: path.join(artifacts, 'docs-authorized.png'), fullPage: false })
})

t.test('Swagger UI: Authorize a service client with client credentials and one scope, then Try it out on GET /users', { skip, timeout: 120_000 }, async (t) => {
  const app = await build(t)
  const ann = await createUser(app, { email: 'docs-ann@example.test' })
  const bob = await createUser(app, { email: 'docs-bob@example.test' })
  const admin = await createUser(app, { email: 'docs-admin@example.test', role: 'admin' })
  const client = await createClient(app, ['users:read', 'orders:read'], { admin })
  const page = await openDocs(t, await app.listen({ host: '127.0.0.1', port: 0 }))

  await page.locator('.swagger-ui .btn.authorize').first().click()
  const section = flowSection(page, 'clientCredentials')
  await section.locator('#client_id_clientCredentials').fill(client.clientId)
  await section.locator('#client_secret_clientCredentials').fill(client.clientSecret)
  // The input itself is hidden behind Swagger UI's own box: its label is what a person clicks.
  await section.locator('label[for="users:read-clientCredentials-checkbox-OAuth2"]').click()
  t.ok(await section.locator('input[data-value="users:read"]').isChecked(), 'users:read ticked')
  const tokenRequest = page.waitForRequest((request) => request.url().endsWith('/auth/token'))
  await section.locator('button.authorize').click()
  const sent = await tokenRequest
  const form = new URLSearchParams(sent.postData() ?? '')
  t.same([form.get('grant_type'), form.get('scope')], ['client_credentials', 'users:read'], 'the browser asked for the ticked scope')
  const answer = await (await sent.response())?.json() as { scope: string, refresh_token?: string }
  t.equal(answer.scope, 'users:read', 'and got just that')
  t.notOk('refresh_token' in answer, 'no refresh token for a client')
  await section.locator('button:has-text("Logout")').waitFor()
  await page.locator('.dialog-ux button.close-modal').click()

  const users = await tryGet(page, '/users')
  t.equal(users.status, 200, 'GET /users with the client\'s users:read token gives 200')
  const emails = (JSON.parse(users.body) as { items: Array<{ email: string }> }).items.map((item) => item.email)
  t.same(emails, [ann.email, bob.email, admin.email], 'the users are listed')

  const me = await tryGet(page, '/users/me')
  t.equal(me.status, 403, 'a client\'s token has no account scope: GET /users/me is refused')
  t.same(JSON.parse(me.body), { statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: 'This token does not carry the scope this needs: account' })

  fs.mkdirSync(artifacts, { recursive: true })
  await page.screenshot({ path: path.join(artifacts, 'docs-client-credentials.png'), fullPage: false })
})
