// Compiled as a file of the plan floor by the floors test, which expects it
// not to compile: plan/ sits below experiment/.
#include "experiment/experiment.hpp"
