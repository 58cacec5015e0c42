// xl.cfg(5) domain configuration files, as `pvsim xl create` reads them: the syntax
// (syntax.ts), pvsim's keys with xl's defaults and the toolstack's limits (keys.ts), and the
// disk and vif spec strings (disk.ts, vif.ts). See docs/xl.md.

import { parseXlCfgSettings } from './syntax.ts';
import { xlConfigFromSettings, type XlConfig, type XlKeyOptions } from './keys.ts';

export { XlCfgError, XlSpecError, parseCLong, parseXlCfgSettings, type XlCfgSettings, type XlSetting, type XlValue } from './syntax.ts';
export { XL_ACTIONS, XL_DEFAULTS, XL_KEYS, XL_LIMITS, xlConfigFromSettings, type XlAction, type XlConfig, type XlKeyOptions } from './keys.ts';
export { parseDiskSpec, vdevToDevid, type XlDisk } from './disk.ts';
export { parseVdevSpec, type XlVdev } from './vdev.ts';
export { generatedMac, parseVifSpec, VIF_DEFAULTS, type XlDomainType, type XlVif } from './vif.ts';

/** Parses an xl.cfg file's text; `file` names it in errors and anchors relative paths. */
export function parseXlCfg(text: string, file: string, opts: XlKeyOptions = {}): XlConfig {
  return xlConfigFromSettings(parseXlCfgSettings(text, file), file, opts);
}
