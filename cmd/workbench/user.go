package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/mriworkbench/workbench/internal/auth"
	"github.com/mriworkbench/workbench/store"
)

const userUsage = "user add NAME --role admin|reviewer|annotator [--password-file F] | user list | user passwd NAME [--password-file F] | " +
	"user role NAME ROLE | user remove NAME | user token NAME [--revoke]  (each with [--data DIR])"

// passwordInput is where passwords come from when no --password-file is given: the terminal, without echo,
// or the first line of standard input when it is not a terminal (a script's pipe).
var passwordInput io.Reader = os.Stdin

// runUser manages accounts in the data directory. The server reads them from the same database, so a
// running server sees a new user within seconds; each change is in the audit trail as done by "cli".
func runUser(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"usage: workbench " + userUsage}
	}
	sub := args[0]
	fs := newFlagSet("user "+sub, userUsage, stderr)
	dataDir := dataFlag(fs)
	role := fs.String("role", "", "the user's role: admin, reviewer or annotator")
	passwordFile := fs.String("password-file", "", "read the password from the first line of this file instead of a prompt")
	revoke := fs.Bool("revoke", false, "token: revoke every API token of the user instead of making one")
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"add": 1, "list": 0, "passwd": 1, "role": 2, "remove": 1, "token": 1}
	n, ok := want[sub]
	if !ok {
		return usageError{fmt.Sprintf("unknown user command %q (usage: workbench %s)", sub, userUsage)}
	}
	if len(positional) != n {
		return usageError{fmt.Sprintf("user %s takes %d argument(s), got %d (usage: workbench %s)", sub, n, len(positional), userUsage)}
	}
	st, err := openStore(*dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	audit := func(action, name, detail string) error {
		return st.Audit(ctx, store.AuditEntry{Actor: "cli", Action: action, Target: "user " + name, Detail: detail + osUser()})
	}
	switch sub {
	case "add":
		r, err := store.ParseRole(*role)
		if err != nil {
			return usageError{"--role: " + err.Error()}
		}
		hash, err := newPasswordHash(*passwordFile, stderr, positional[0])
		if err != nil {
			return err
		}
		u, err := st.CreateUser(ctx, positional[0], r, hash)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", u.Name, u.Role)
		return audit("user.add", u.Name, "role "+string(u.Role))
	case "list":
		users, err := st.Users(ctx)
		if err != nil {
			return err
		}
		if len(users) == 0 {
			fmt.Fprintln(stdout, "no users: the workbench serves loopback only, to whoever runs it (workbench user add NAME --role admin)")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.Local().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "passwd":
		if _, err := st.UserByName(ctx, positional[0]); err != nil {
			return err
		}
		hash, err := newPasswordHash(*passwordFile, stderr, positional[0])
		if err != nil {
			return err
		}
		if err := st.SetPassword(ctx, positional[0], hash); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; its sessions have ended\n", positional[0])
		return audit("user.passwd", positional[0], "")
	case "role":
		r, err := store.ParseRole(positional[1])
		if err != nil {
			return usageError{err.Error()}
		}
		if err := st.SetRole(ctx, positional[0], r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s\n", positional[0], r)
		return audit("user.role", positional[0], "role "+string(r))
	case "remove":
		if err := st.RemoveUser(ctx, positional[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s; the labels it wrote keep its name\n", positional[0])
		return audit("user.remove", positional[0], "")
	default: // token
		if *revoke {
			n, err := st.RevokeTokens(ctx, positional[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked %d API token(s) of %s\n", n, positional[0])
			return audit("token.revoke", positional[0], fmt.Sprintf("%d tokens", n))
		}
		secret, hash, err := auth.NewSecret("wbt_")
		if err != nil {
			return err
		}
		if err := st.CreateToken(ctx, positional[0], hash); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "API token of %s (shown once; send it as \"Authorization: Bearer TOKEN\"; revoke with workbench user token %s --revoke):\n",
			positional[0], positional[0])
		fmt.Fprintln(stdout, secret)
		return audit("token.create", positional[0], "")
	}
}

// newPasswordHash reads a new password (file, terminal twice, or a line of standard input) and hashes it.
func newPasswordHash(file string, stderr io.Writer, name string) (string, error) {
	var pw string
	switch {
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("cannot read the password file: %w", err)
		}
		pw, _, _ = strings.Cut(string(data), "\n")
		pw = strings.TrimSuffix(pw, "\r")
	case isTerminal(passwordInput):
		fd := int(passwordInput.(*os.File).Fd())
		fmt.Fprintf(stderr, "password for %s: ", name)
		first, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "again: ")
		second, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", fmt.Errorf("the two passwords differ; nothing changed")
		}
		pw = string(first)
	default:
		line, err := bufio.NewReader(passwordInput).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("no password given: type it at the prompt, pipe it on standard input, or use --password-file")
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	return auth.HashPassword(pw, auth.DefaultParams)
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return " (OS user " + u.Username + ")"
	}
	return ""
}
