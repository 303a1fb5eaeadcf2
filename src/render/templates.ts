// Handlebars templates under <install>/templates, compiled once per process. Helpers turn values
// into text that is safe where it lands: a YAML scalar, an ansible.cfg value, an ssh argument.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';

/**
 * A YAML flow value that PyYAML (YAML 1.1, Ansible's loader) reads back unchanged: strings are
 * always double-quoted (so `yes`, `0777`, `1:20` stay strings), collections are written as JSON.
 */
export function yamlValue(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
  return JSON.stringify(value);
}

/** ansible.cfg is read by Python's ConfigParser: `%` starts an interpolation, ` ;` a comment. */
export function cfgValue(value: string): string {
  if (/[\n\r]/.test(value)) throw new Error(`ansible.cfg value contains a line break: ${JSON.stringify(value)}`);
  if (/\s;/.test(value)) throw new Error(`ansible.cfg value cannot contain " ;": ${JSON.stringify(value)}`);
  return value.replace(/%/g, '%%');
}

/** One word for ssh_args, which Ansible splits like a shell (shlex) before handing them to ssh. */
export function sshWord(value: string): string {
  const word = /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'"'"'`)}'`;
  return cfgValue(word);
}

const hb = Handlebars.create();
hb.registerHelper('yaml', (v: unknown) => new hb.SafeString(yamlValue(v)));
hb.registerHelper('cfg', (v: unknown) => new hb.SafeString(cfgValue(String(v))));
hb.registerHelper('sshq', (v: unknown) => new hb.SafeString(sshWord(String(v))));

const compiled = new Map<string, Handlebars.TemplateDelegate>();

/** Renders `<templatesDir>/<name>.hbs`; a value the template names but the data lacks is an error. */
export function renderTemplate(templatesDir: string, name: string, data: object): string {
  const path = join(templatesDir, `${name}.hbs`);
  let template = compiled.get(path);
  if (!template) {
    template = hb.compile(readFileSync(path, 'utf8'), { noEscape: true, strict: true });
    compiled.set(path, template);
  }
  return template(data);
}
