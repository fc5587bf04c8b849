import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/peers/**', 'bench/results/**', '.kafka/**', '.scratch/**', '.fluxion/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      // Object literals that implement contexts for an operator refer to it as `op`.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['op'] }],
    },
  },
)
