// The page's entry point. The playground (terminal, trace, lessons) replaces this placeholder.
document.documentElement.dataset.ready = "true";
