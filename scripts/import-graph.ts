/**
 * The modules a program loads at run time, found from its entry by reading sources: static
 * `import`/`export ... from`, side-effect imports, `import()` and `require()` with a literal
 * specifier. Type-only imports (`import type`, `export type`) are left out: they are erased before
 * the code runs. With `verbatimModuleSyntax` an import whose names are all `type` still loads its
 * module, so it counts.
 *
 * Relative specifiers resolve to files under the project; bare ones are packages (their first one
 * or two path segments) or Node built-ins. Packages are not walked into: what a package needs is
 * its own business, whether the project ships it is not.
 *
 * Unlike import-scan.ts (the text scan the source-tree rules share), this reads each file with the
 * TypeScript parser: what loads at run time depends on telling `import type` from `import`, and a
 * computed `import()` from a literal one, which a text scan cannot do reliably.
 */
import { readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

export type ImportKind = 'static' | 'dynamic';

export interface ModuleImport {
  readonly specifier: string;
  readonly kind: ImportKind;
}

export interface ImportGraph {
  /** Project files reached, relative to the root ('/' separated), with the chain that first reached each. */
  readonly modules: ReadonlyMap<string, readonly string[]>;
  /** Packages reached (by package name), with the chain of the module that first imported each. */
  readonly packages: ReadonlyMap<string, readonly string[]>;
  /** Project files reached only through some `import()` on the way (loaded on demand). */
  readonly onDemand: ReadonlySet<string>;
  /** What could not be followed: an `import()` of a computed name, a relative import of a missing file. */
  readonly unresolved: readonly string[];
}

/** Every import of one source file that loads a module at run time. */
export function importsOf(fileName: string, text: string): { imports: ModuleImport[]; computed: number } {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, fileName.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const imports: ModuleImport[] = [];
  let computed = 0;
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      if (!node.importClause?.isTypeOnly && ts.isStringLiteral(node.moduleSpecifier)) imports.push({ specifier: node.moduleSpecifier.text, kind: 'static' });
    } else if (ts.isExportDeclaration(node)) {
      if (!node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) imports.push({ specifier: node.moduleSpecifier.text, kind: 'static' });
    } else if (ts.isCallExpression(node)) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) {
        const arg = node.arguments[0];
        if (arg && (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))) imports.push({ specifier: arg.text, kind: isImport ? 'dynamic' : 'static' });
        else computed++;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { imports, computed };
}

const BUILTINS = new Set(builtinModules);

/** The package a bare specifier names: `@scope/name` or `name`, without a subpath. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

function resolveRelative(fromFile: string, specifier: string): string | undefined {
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, resolve(base, 'index.ts')];
  return candidates.find((c) => statSync(c, { throwIfNoEntry: false })?.isFile());
}

/** Walk everything `entry` (a path relative to `root`) loads at run time. */
export function importGraph(root: string, entry: string): ImportGraph {
  const modules = new Map<string, string[]>();
  const packages = new Map<string, string[]>();
  const onDemand = new Set<string>();
  const unresolved: string[] = [];
  const rel = (abs: string): string => relative(root, abs).split('\\').join('/');
  // Breadth first, so the chain kept for each module is a shortest one.
  const queue: { abs: string; chain: string[]; lazy: boolean }[] = [{ abs: resolve(root, entry), chain: [entry], lazy: false }];
  modules.set(entry, [entry]);
  for (let item = queue.shift(); item; item = queue.shift()) {
    const { imports, computed } = importsOf(item.abs, readFileSync(item.abs, 'utf8'));
    if (computed > 0) unresolved.push(`${rel(item.abs)}: ${computed} import() or require() of a computed name`);
    for (const imp of imports) {
      const lazy = item.lazy || imp.kind === 'dynamic';
      if (imp.specifier.startsWith('.') || imp.specifier.startsWith('/')) {
        const target = resolveRelative(item.abs, imp.specifier);
        if (!target) {
          unresolved.push(`${rel(item.abs)}: '${imp.specifier}' is not a file`);
          continue;
        }
        const name = rel(target);
        if (!lazy) onDemand.delete(name);
        if (modules.has(name)) continue;
        const chain = [...item.chain, name];
        modules.set(name, chain);
        if (lazy) onDemand.add(name);
        queue.push({ abs: target, chain, lazy });
      } else if (!imp.specifier.startsWith('node:') && !BUILTINS.has(imp.specifier)) {
        const name = packageName(imp.specifier);
        if (!packages.has(name)) packages.set(name, [...item.chain, name]);
      }
    }
  }
  return { modules, packages, onDemand, unresolved };
}

/** What a program shipped to users must not load: dev folders of the project, and dev-only packages. */
export interface ShippingRules {
  /** Top-level folders that hold developer tools or tests. */
  readonly devFolders: readonly string[];
  /** package.json's `dependencies`: the only packages a user installs. */
  readonly dependencies: readonly string[];
  /** package.json's `devDependencies`, to say so when one is reached. */
  readonly devDependencies: readonly string[];
}

/** One line per module or package the rules forbid, with the import chain that reaches it. */
export function shippingViolations(graph: ImportGraph, rules: ShippingRules): string[] {
  const out: string[] = [];
  for (const [name, chain] of graph.modules) {
    const folder = name.split('/')[0] ?? '';
    if (name.includes('/') && rules.devFolders.includes(folder)) out.push(`${name} is in ${folder}/ (${chain.join(' -> ')})`);
  }
  for (const [name, chain] of graph.packages) {
    if (rules.dependencies.includes(name)) continue;
    const why = rules.devDependencies.includes(name) ? 'is a devDependency' : 'is not in dependencies';
    out.push(`package ${name} ${why} (${chain.join(' -> ')})`);
  }
  return [...out, ...graph.unresolved.map((u) => `cannot follow ${u}`)];
}
