// Type-aware lint for the whole workspace. Nx module boundaries keep domain libs free of infrastructure.
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const infrastructurePackages = [
  'bullmq',
  'ioredis',
  '@azure/*',
  'pg',
  '@nestjs/*',
  'nestjs-pino',
  'pino',
  'prom-client',
  'node:child_process',
  'child_process',
  'node:fs',
  'fs',
  'node:fs/promises',
  'fs/promises',
];

// A source kind (type:kind) is reached only through the registry (type:registry, libs/source-kinds): no stage,
// feature, app or other kind imports one. The registry sits where infra does.
const constraints = (allowTesting) => {
  const testing = allowTesting ? ['type:testing'] : [];
  return [
    {
      sourceTag: 'type:domain',
      onlyDependOnLibsWithTags: ['type:domain', ...testing],
      bannedExternalImports: infrastructurePackages,
    },
    {
      sourceTag: 'type:infra',
      onlyDependOnLibsWithTags: ['type:domain', 'type:infra', 'type:registry', ...testing],
    },
    { sourceTag: 'type:kind', onlyDependOnLibsWithTags: ['type:domain', 'type:infra', ...testing] },
    {
      sourceTag: 'type:registry',
      onlyDependOnLibsWithTags: ['type:domain', 'type:infra', 'type:kind', ...testing],
    },
    {
      sourceTag: 'type:feature',
      onlyDependOnLibsWithTags: ['type:domain', 'type:infra', 'type:registry', 'type:feature', ...testing],
    },
    {
      sourceTag: 'type:app',
      onlyDependOnLibsWithTags: ['type:domain', 'type:infra', 'type:registry', 'type:feature', ...testing],
    },
    {
      sourceTag: 'type:testing',
      onlyDependOnLibsWithTags: [
        'type:domain',
        'type:infra',
        'type:kind',
        'type:registry',
        'type:feature',
        'type:testing',
      ],
    },
    { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  ];
};

const boundaries = (allowTesting) => ({
  '@nx/enforce-module-boundaries': [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow: [],
      banTransitiveDependencies: false,
      depConstraints: constraints(allowTesting),
    },
  ],
});

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '.nx/**', '.tidemark/**', 'tmp/**', '**/*.mjs', '**/*.js'],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    plugins: { '@nx': nx },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      ...boundaries(false),
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-extraneous-class': ['error', { allowWithDecorator: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@tidemark/*/*'],
              message: 'Import a library through its public index (@tidemark/<lib>).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts', 'bench/**/*.ts', 'libs/testing/**/*.ts'],
    rules: {
      ...boundaries(true),
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  prettier,
);
