
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'demo' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'demo'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'demo' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run the daemon in the foreground (the default)')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Register this binary with the platform''s service manager')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove everything `install` created, and nothing else')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start the installed service')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the installed service')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Restart the installed service')
            [CompletionResult]::new('reload', 'reload', [CompletionResultType]::ParameterValue, 'Ask the running service to reload its configuration')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the service''s state')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show the service''s logs')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Print the effective configuration and where each value came from')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration and the environment, and explain each problem')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page')
            break
        }
        'demo;run' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;install' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Manage the per-user service (the default when not root)')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Manage the system service (the default as root)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print every file and command, change nothing')
            [CompletionResult]::new('--now', '--now', [CompletionResultType]::ParameterName, 'Start the service and wait until it is ready')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace a service definition that duende did not write')
            [CompletionResult]::new('--in-place', '--in-place', [CompletionResultType]::ParameterName, 'Use this binary where it is instead of copying it to a stable path')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print what was done (or, with `--dry-run`, would be done) as JSON (schema `duende.changes.v1`)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;uninstall' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Manage the per-user service (the default when not root)')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Manage the system service (the default as root)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;start' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Manage the per-user service (the default when not root)')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Manage the system service (the default as root)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;stop' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Manage the per-user service (the default when not root)')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Manage the system service (the default as root)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;restart' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Manage the per-user service (the default when not root)')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Manage the system service (the default as root)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;reload' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Manage the per-user service (the default when not root)')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Manage the system service (the default as root)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;status' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Manage the per-user service (the default when not root)')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Manage the system service (the default as root)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (schema `duende.status.v1`)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;logs' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'How many recent lines to show')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'How many recent lines to show')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Manage the per-user service (the default when not root)')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Manage the system service (the default as root)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep following new lines')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep following new lines')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;config' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (schema `duende.config.v1`)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;check' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (schema `duende.check.v1`)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'demo;man' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read this configuration file (above the system or user file, below environment and --set)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'The platform to manage; `auto` detects it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
