# Recipe generators shared by the bench scripts (sourced, not run).

# chain_recipe N FILE: N `exec` nodes `command: [true]`, each depending on the one before.
chain_recipe() {
    {
        printf 'version: "1.0"\nname: chain-%s\nnodes:\n  - id: n0\n    command: ["true"]\n' "$1"
        for ((i = 1; i < $1; i++)); do
            printf '  - id: n%d\n    command: ["true"]\n    depends_on: [n%d]\n' "$i" $((i - 1))
        done
    } >"$2"
}

# wide_recipe N FILE: N independent `sleep 0.05` nodes at concurrency 64.
wide_recipe() {
    {
        printf 'version: "1.0"\nname: wide-%s\nconcurrency: 64\nnodes:\n' "$1"
        for ((i = 0; i < $1; i++)); do
            printf '  - id: w%d\n    command: [sleep, "0.05"]\n' "$i"
        done
    } >"$2"
}
