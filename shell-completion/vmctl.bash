# bash completion for vmctl(1): commands, then VM names from /etc/vms (or config files for validate).
_vmctl() {
        local cur=${COMP_WORDS[COMP_CWORD]} verb="" i
        local verbs="list status start stop restart describe inspect pause resume poweroff reboot kill save restore add-disk remove-disk add-nic remove-nic events console validate"
        for ((i = 1; i < COMP_CWORD; i++)); do
                [[ ${COMP_WORDS[i]} != -* ]] && { verb=${COMP_WORDS[i]}; break; }
        done
        if [[ -z $verb ]]; then
                mapfile -t COMPREPLY < <(compgen -W "$verbs --json --stop --read-only --serial= --force --tap= --bridge= --mac= --help --version" -- "$cur")
        elif [[ $verb == validate ]]; then
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        elif [[ $verb != list && $((COMP_CWORD - i)) == 1 ]]; then
                local names=(/etc/vms/*.conf)
                names=("${names[@]##*/}")
                mapfile -t COMPREPLY < <(compgen -W "${names[*]%.conf}" -- "$cur")
        elif [[ $verb == save || $verb == restore || $verb == add-disk ]]; then
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        elif [[ $verb == inspect ]]; then
                mapfile -t COMPREPLY < <(compgen -W "vcpus memory devices" -- "$cur")
        fi
}
complete -F _vmctl vmctl
