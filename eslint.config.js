import neostandard from 'neostandard'

// neostandard (standard's rules for ESLint 9) with TypeScript: the style the Fastify
// projects use. Generated and built files are not ours to lint.
export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', '.tap/**', 'openapi/schema.d.ts', 'test/artifacts/**'] }),
  {
    rules: {
      // It cannot see a loop's condition changed by another async task (a test's
      // "stop" flag set while shoppers loop): every hit here was that.
      'no-unmodified-loop-condition': 'off'
    }
  }
]
