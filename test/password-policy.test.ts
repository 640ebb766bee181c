import t from 'tap'
import { commonPasswordCount, isCommonPassword } from '../src/password-policy.js'

t.test('the deny-list is a real list of at least 10,000 common passwords', async (t) => {
  t.ok(commonPasswordCount >= 10_000, `${commonPasswordCount} entries`)
  for (const password of ['password', 'Password', '123456789', 'qwertyuiop', 'iloveyou', 'letmein1']) {
    t.ok(isCommonPassword(password), `${password} is common`)
  }
  for (const password of ['correct horse battery', 'k7#Vq!2zLmP9', 'hunter22!x-but-longer']) {
    t.notOk(isCommonPassword(password), `${password} is not on the list`)
  }
})
