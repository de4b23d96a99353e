# The two commands a newcomer needs (see README.md).
.PHONY: demo test e2e release packages packages-test
demo:
	scripts/demo.sh
test:
	scripts/test.sh
e2e:
	scripts/e2e.sh
release:
	scripts/release.sh
packages:
	scripts/agent-packages.sh
packages-test:
	scripts/agent-packages-test.sh
