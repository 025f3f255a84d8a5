// Every CLI command, one line each (keep alphabetical).
import type { Command } from '../command.js';
import { info } from './info.js';

export const commands: Command[] = [info];
