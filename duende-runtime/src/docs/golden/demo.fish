# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_demo_global_optspecs
    string join \n config= set= platform= q/quiet h/help V/version
end

function __fish_demo_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_demo_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_demo_using_subcommand
    set -l cmd (__fish_demo_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c demo -n "__fish_demo_needs_command" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_needs_command" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_needs_command" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_needs_command" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_needs_command" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_needs_command" -f -a "run" -d 'Run the daemon in the foreground (the default)'
complete -c demo -n "__fish_demo_needs_command" -f -a "install" -d 'Register this binary with the platform\'s service manager'
complete -c demo -n "__fish_demo_needs_command" -f -a "uninstall" -d 'Remove everything `install` created, and nothing else'
complete -c demo -n "__fish_demo_needs_command" -f -a "start" -d 'Start the installed service'
complete -c demo -n "__fish_demo_needs_command" -f -a "stop" -d 'Stop the installed service'
complete -c demo -n "__fish_demo_needs_command" -f -a "restart" -d 'Restart the installed service'
complete -c demo -n "__fish_demo_needs_command" -f -a "reload" -d 'Ask the running service to reload its configuration'
complete -c demo -n "__fish_demo_needs_command" -f -a "status" -d 'Show the service\'s state'
complete -c demo -n "__fish_demo_needs_command" -f -a "logs" -d 'Show the service\'s logs'
complete -c demo -n "__fish_demo_needs_command" -f -a "config" -d 'Print the effective configuration and where each value came from'
complete -c demo -n "__fish_demo_needs_command" -f -a "check" -d 'Validate the configuration and the environment, and explain each problem'
complete -c demo -n "__fish_demo_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c demo -n "__fish_demo_needs_command" -f -a "man" -d 'Print the man page'
complete -c demo -n "__fish_demo_using_subcommand run" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand run" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand run" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand run" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand run" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand install" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand install" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand install" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand install" -l user -d 'Manage the per-user service (the default when not root)'
complete -c demo -n "__fish_demo_using_subcommand install" -l system -d 'Manage the system service (the default as root)'
complete -c demo -n "__fish_demo_using_subcommand install" -l dry-run -d 'Print every file and command, change nothing'
complete -c demo -n "__fish_demo_using_subcommand install" -l now -d 'Start the service and wait until it is ready'
complete -c demo -n "__fish_demo_using_subcommand install" -l force -d 'Replace a service definition that duende did not write'
complete -c demo -n "__fish_demo_using_subcommand install" -l in-place -d 'Use this binary where it is instead of copying it to a stable path'
complete -c demo -n "__fish_demo_using_subcommand install" -l json -d 'Print what was done (or, with `--dry-run`, would be done) as JSON (schema `duende.changes.v1`)'
complete -c demo -n "__fish_demo_using_subcommand install" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand install" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand uninstall" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand uninstall" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand uninstall" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand uninstall" -l user -d 'Manage the per-user service (the default when not root)'
complete -c demo -n "__fish_demo_using_subcommand uninstall" -l system -d 'Manage the system service (the default as root)'
complete -c demo -n "__fish_demo_using_subcommand uninstall" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand uninstall" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand uninstall" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand start" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand start" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand start" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand start" -l user -d 'Manage the per-user service (the default when not root)'
complete -c demo -n "__fish_demo_using_subcommand start" -l system -d 'Manage the system service (the default as root)'
complete -c demo -n "__fish_demo_using_subcommand start" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand start" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand stop" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand stop" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand stop" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand stop" -l user -d 'Manage the per-user service (the default when not root)'
complete -c demo -n "__fish_demo_using_subcommand stop" -l system -d 'Manage the system service (the default as root)'
complete -c demo -n "__fish_demo_using_subcommand stop" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand stop" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand restart" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand restart" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand restart" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand restart" -l user -d 'Manage the per-user service (the default when not root)'
complete -c demo -n "__fish_demo_using_subcommand restart" -l system -d 'Manage the system service (the default as root)'
complete -c demo -n "__fish_demo_using_subcommand restart" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand restart" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand restart" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand reload" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand reload" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand reload" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand reload" -l user -d 'Manage the per-user service (the default when not root)'
complete -c demo -n "__fish_demo_using_subcommand reload" -l system -d 'Manage the system service (the default as root)'
complete -c demo -n "__fish_demo_using_subcommand reload" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand reload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand reload" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand status" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand status" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand status" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand status" -l user -d 'Manage the per-user service (the default when not root)'
complete -c demo -n "__fish_demo_using_subcommand status" -l system -d 'Manage the system service (the default as root)'
complete -c demo -n "__fish_demo_using_subcommand status" -l json -d 'Print JSON (schema `duende.status.v1`)'
complete -c demo -n "__fish_demo_using_subcommand status" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand status" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand logs" -s n -l lines -d 'How many recent lines to show' -r
complete -c demo -n "__fish_demo_using_subcommand logs" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand logs" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand logs" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand logs" -l user -d 'Manage the per-user service (the default when not root)'
complete -c demo -n "__fish_demo_using_subcommand logs" -l system -d 'Manage the system service (the default as root)'
complete -c demo -n "__fish_demo_using_subcommand logs" -s f -l follow -d 'Keep following new lines'
complete -c demo -n "__fish_demo_using_subcommand logs" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand logs" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand config" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand config" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand config" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand config" -l json -d 'Print JSON (schema `duende.config.v1`)'
complete -c demo -n "__fish_demo_using_subcommand config" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand config" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand check" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand check" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand check" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand check" -l json -d 'Print JSON (schema `duende.check.v1`)'
complete -c demo -n "__fish_demo_using_subcommand check" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand check" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand completions" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand completions" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand completions" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand completions" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand completions" -s V -l version -d 'Print version'
complete -c demo -n "__fish_demo_using_subcommand man" -l config -d 'Read this configuration file (above the system or user file, below environment and --set)' -r -F
complete -c demo -n "__fish_demo_using_subcommand man" -l set -d 'Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence)' -r
complete -c demo -n "__fish_demo_using_subcommand man" -l platform -d 'The platform to manage; `auto` detects it' -r -f -a "auto\t'Detect the platform'
systemd\t'systemd'
launchd\t'launchd (macOS)'
container\t'docker or podman'
pepita\t'a pepita microVM'
wos\t'WOS, the WebAssembly OS'
native\t'no service manager: the binary supervises itself'
kubernetes\t'Kubernetes manifests, applied with kubectl where a cluster answers (never detected)'
swarm\t'a docker swarm service (never detected)'"
complete -c demo -n "__fish_demo_using_subcommand man" -s q -l quiet -d 'Show no progress of long steps (building an image or a VM bundle, waiting for the service to be ready); results and errors are still printed'
complete -c demo -n "__fish_demo_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c demo -n "__fish_demo_using_subcommand man" -s V -l version -d 'Print version'
