/**
 * The dependency rule, checked by `npm run check`: the grade model (grades,
 * courses, models, db, http) imports no surface, and no two folders import
 * each other in a circle.
 */
const CORE = '^src/(grades|courses|models|db|http)/';
const SURFACES = '^src/(lti|history|exchange|progress|journey|webhooks|demo|emulators)/';

module.exports = {
  forbidden: [
    {
      name: 'model-imports-no-surface',
      comment:
        'The grade model knows no surface: what must follow a grade change is a follower registered at start-up (src/followers.ts).',
      severity: 'error',
      from: { path: CORE },
      to: { path: SURFACES },
    },
    {
      name: 'no-folder-cycles',
      comment:
        'Two folders that import each other, directly or through others, are one folder in disguise.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
