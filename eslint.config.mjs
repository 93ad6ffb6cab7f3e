// ESLint: the recommended rules of ESLint and typescript-eslint over the sources, the tests and the
// JavaScript around them (scripts, examples, benchmarks, install hooks). Formatting is Prettier's.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'prebuilds/', 'docs/api/', 'coverage/', '.lab/', 'bench/results/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: globals.node },
    rules: {
      // The package is CommonJS: require() loads the addon by a computed path and some modules lazily.
      '@typescript-eslint/no-require-imports': 'off',
      // A getter in an object literal, or a named function compared by identity, needs `this` by a name.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self', 'core'] }],
      // A variable a callback reads may be declared before the callback and assigned once after it.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Leaving fields out by rest destructuring, and `_` for what is ignored on purpose, as tsc allows.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  { files: ['**/*.js'], languageOptions: { sourceType: 'commonjs' } },
  // Tests match indented output lines as printed, spaces and all.
  { files: ['test/**'], rules: { 'no-regex-spaces': 'off' } },
);
