#include "daemon/cli.h"

int main(int argc, char** argv) { return tollgate::run_cli(argc, argv); }
