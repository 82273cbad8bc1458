
use builtin;
use str;

set edit:completion:arg-completer[demo] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'demo'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'demo'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Run the daemon in the foreground (the default)'
            cand install 'Register this binary with the platform''s service manager'
            cand uninstall 'Remove everything `install` created, and nothing else'
            cand start 'Start the installed service'
            cand stop 'Stop the installed service'
            cand restart 'Restart the installed service'
            cand reload 'Ask the running service to reload its configuration'
            cand status 'Show the service''s state'
            cand logs 'Show the service''s logs'
            cand config 'Print the effective configuration and where each value came from'
            cand check 'Validate the configuration and the environment, and explain each problem'
            cand completions 'Print a shell completion script'
            cand man 'Print the man page'
        }
        &'demo;run'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;install'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --user 'Manage the per-user service (the default when not root)'
            cand --system 'Manage the system service (the default as root)'
            cand --dry-run 'Print every file and command, change nothing'
            cand --now 'Start the service and wait until it is ready'
            cand --force 'Replace a service definition that duende did not write'
            cand --in-place 'Use this binary where it is instead of copying it to a stable path'
            cand --json 'Print what was done (or, with `--dry-run`, would be done) as JSON (schema `duende.changes.v1`)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;uninstall'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --user 'Manage the per-user service (the default when not root)'
            cand --system 'Manage the system service (the default as root)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;start'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --user 'Manage the per-user service (the default when not root)'
            cand --system 'Manage the system service (the default as root)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;stop'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --user 'Manage the per-user service (the default when not root)'
            cand --system 'Manage the system service (the default as root)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;restart'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --user 'Manage the per-user service (the default when not root)'
            cand --system 'Manage the system service (the default as root)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;reload'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --user 'Manage the per-user service (the default when not root)'
            cand --system 'Manage the system service (the default as root)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;status'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --user 'Manage the per-user service (the default when not root)'
            cand --system 'Manage the system service (the default as root)'
            cand --json 'Print JSON (schema `duende.status.v1`)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;logs'= {
            cand -n 'How many recent lines to show'
            cand --lines 'How many recent lines to show'
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --user 'Manage the per-user service (the default when not root)'
            cand --system 'Manage the system service (the default as root)'
            cand -f 'Keep following new lines'
            cand --follow 'Keep following new lines'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;config'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --json 'Print JSON (schema `duende.config.v1`)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;check'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand --json 'Print JSON (schema `duende.check.v1`)'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;completions'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'demo;man'= {
            cand --config 'Read this configuration file (above the system or user file, below environment and --set)'
            cand --set 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)'
            cand --platform 'The platform to manage; `auto` detects it'
            cand -q 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand --quiet 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
