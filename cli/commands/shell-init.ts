import path from 'node:path';
import { Args, Command } from '@oclif/core';
import { CLI_NAME, cliInvocation, shellInit, SHELLS, type Shell } from '../lib/shell-init.js';

export default class ShellInit extends Command {
  static override summary =
    'Print a `jobs` function for bash or zsh, so that typing `jobs submit …` reaches this CLI.';
  static override description = `\`jobs\` is a builtin of bash, zsh and dash: a typed \`jobs …\` never reaches a program of that name. This CLI is also installed as ${CLI_NAME}, and this command prints a shell function named \`jobs\` that sends the CLI's commands (submit, list, logs, …, --help, --version) to it and everything else (\`jobs\`, \`jobs -l\`, \`jobs %1\`) to the shell's builtin. Add the eval line below to ~/.bashrc or ~/.zshrc. Scripts and CI can call ${CLI_NAME} directly.`;
  static override examples = [
    `eval "$(${CLI_NAME} shell-init bash)"   # in ~/.bashrc`,
    `eval "$(${CLI_NAME} shell-init zsh)"    # in ~/.zshrc`,
  ];

  static override args = {
    shell: Args.string({
      description: 'bash or zsh (default: the one $SHELL names)',
      options: [...SHELLS],
    }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(ShellInit);
    const shell = (args.shell ?? path.basename(process.env.SHELL ?? '')) as Shell;
    if (!SHELLS.includes(shell)) {
      this.error(`say which shell: ${CLI_NAME} shell-init bash, or ${CLI_NAME} shell-init zsh`, { exit: 2 });
    }
    const commands = this.config.commands.map((c) => c.id.split(':')[0]!).filter((id) => id !== '');
    process.stdout.write(shellInit(shell, commands, cliInvocation(process.argv[1]!)));
  }
}
