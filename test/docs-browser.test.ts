import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { chromium, type Page } from 'playwright-core'
import { build, createUser } from './helper.js'

const CHROMIUM = '/usr/bin/chromium'
const artifacts = path.resolve(import.meta.dirname, 'artifacts')
// Without Chromium the test is skipped on a developer's machine, saying why, and fails in
// CI, where everything must run (as the PostgreSQL and Redis tests do).
const missing = fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium); the Swagger UI browser test did not run`
if (missing && process.env.CI) t.fail(`Chromium is required in CI. ${missing}`)
const skip = missing && !process.env.CI ? missing : false
if (skip) t.comment(`SKIPPED: ${skip}`)

/** Expands GET /users/me, presses Try it out and Execute, and returns the answer's status and body. */
async function tryUsersMe (page: Page) {
  const operation = page.locator('.opblock-get').filter({ has: page.locator('[data-path="/users/me"]') })
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

t.test('Swagger UI: Authorize with the password flow, then Try it out on GET /users/me', { skip, timeout: 120_000 }, async (t) => {
  const app = await build(t)
  const user = await createUser(app, { email: 'docs-user@example.test' })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.goto(`${base}/docs`)
  await page.locator('.swagger-ui .btn.authorize').first().waitFor()

  // Without authorisation, the protected operation is refused.
  const anonymous = await tryUsersMe(page)
  t.equal(anonymous.status, 401, 'a protected operation without authorisation shows 401')

  await page.locator('.swagger-ui .btn.authorize').first().click()
  const dialog = page.locator('.dialog-ux')
  await dialog.locator('#oauth_username').fill(user.email)
  await dialog.locator('#oauth_password').fill(user.password)
  await dialog.locator('button.authorize').click()
  await dialog.locator('button:has-text("Logout")').waitFor()
  t.pass('the password flow against /auth/token succeeded')
  await dialog.locator('button.close-modal').click()

  const authorised = await tryUsersMe(page)
  t.equal(authorised.status, 200, 'after Authorize, Try it out on GET /users/me gives 200')
  t.match(JSON.parse(authorised.body), { id: user.id, email: user.email, role: 'customer' })

  fs.mkdirSync(artifacts, { recursive: true })
  await page.screenshot({ path: path.join(artifacts, 'docs-authorized.png'), fullPage: false })
})
