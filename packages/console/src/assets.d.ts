// Stylesheets are imported for their side effect: Vite emits them as files the pages link to.
declare module '*.css' {}
